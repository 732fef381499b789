"""The fused H-DNN node: all layers as one autograd node with a hand-written backward.

The node runs a model's ``_fused_step`` layer after layer and its ``_fused_backward`` in
reverse (both built from the half-steps of :mod:`._halfsteps`), on channels-first states
``(nf, N)``, in one of two array libraries:

* **torch** (any device, and large CPU batches): wide ``(d, d) @ (d, N)`` products into a
  reused workspace, the layout the per-pixel stacks need;
* **numpy** (CPU, float32/float64, at most ``numpy_max_columns`` states: the 2D protocols'
  batches of about a hundred points): the same arithmetic on numpy views of the same
  tensors. At these sizes every operation is a few hundred numbers and the time goes to the
  per-operation overhead, which numpy's is several times below torch's (measured at nf 4,
  L 16, batch 125: 0.67 ms against 2.3 ms for a forward and backward, one thread).

Both give the plain layer loop's numbers to float rounding (``tests/test_hdnn_fused.py``).
"""

from __future__ import annotations

import weakref
from typing import ClassVar

import numpy as np
import torch
from torch.autograd.function import once_differentiable

State = tuple[torch.Tensor, ...]
LayerParams = tuple[torch.Tensor, ...]

_NUMPY_DTYPES = (torch.float32, torch.float64)


class _Lease:
    """Held by a fused node while it may still need its workspace (see :class:`_Workspace`)."""


class _Workspace:
    """The memory one model's fused node keeps between forward and backward, reused.

    A training step of the per-pixel models writes tens of MB of states and activations; fresh
    tensors of that size are page-faulted in on every step, which costs as much as the
    arithmetic. So the node takes its buffers from here: a *lot* ``(L + 1, 2, nf, N)`` is lent
    to one node at a time, for as long as that node (its ``ctx``) exists, i.e. until its
    graph is freed; the next step then writes into memory that is already mapped. A lot still
    lent is never handed out again (two graphs alive at once get two lots). At most
    ``max_lots`` lots are kept; the shape changing (another batch size) drops the free ones.
    """

    max_lots: ClassVar[int] = 3

    def __init__(self) -> None:
        self._lots: list[tuple[weakref.ref, torch.Tensor]] = []

    # Reused memory, not state: a copied or pickled model starts with an empty workspace.
    def __getstate__(self) -> dict:
        return {}

    def __setstate__(self, state: dict) -> None:
        self.__init__()

    def __deepcopy__(self, memo: dict) -> _Workspace:
        return _Workspace()

    def take(self, shape: tuple[int, ...], like: torch.Tensor) -> tuple[_Lease, torch.Tensor]:
        lease = _Lease()
        for i, (owner, lot) in enumerate(self._lots):
            if owner() is None and lot.shape == shape and _same_kind(lot, like):
                self._lots[i] = (weakref.ref(lease), lot)
                return lease, lot
        lot = like.new_empty(shape)
        busy = [(owner, kept) for owner, kept in self._lots if owner() is not None]
        if len(busy) < self.max_lots:
            self._lots = [*busy, (weakref.ref(lease), lot)]
        return lease, lot


def _functorch_active() -> bool:
    # The check autograd.Function.apply itself makes before refusing a node without functorch
    # rules; private, hence the guard (as in hamnets.hnn._tanh_gradient).
    active = getattr(torch._C, "_are_functorch_transforms_active", None)
    return bool(active()) if active is not None else False


def _same_kind(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.device == b.device


def runs_on_numpy(y: torch.Tensor, params: tuple[torch.Tensor, ...], max_columns: int) -> bool:
    """Whether the node on states ``y`` ``(nf, N)`` runs its layers in numpy."""
    return (
        y.shape[1] <= max_columns
        and y.device.type == "cpu"
        and y.dtype in _NUMPY_DTYPES
        and all(p.device.type == "cpu" and p.dtype == y.dtype for p in params)
    )


def _array(t: torch.Tensor) -> np.ndarray:
    """A numpy view of a CPU tensor (no copy; autograd's record is not touched)."""
    return t.detach().numpy()


class _FusedLayers(torch.autograd.Function):
    """All layers of an H-DNN as one autograd node, on channels-first states ``(nf, N)``.

    Forward runs the model's ``_fused_step`` layer after layer. It keeps the layer inputs
    ``y_0 .. y_{L-1}`` (which exist anyway) and each layer's activations ``tanh(a)`` (one
    ``(nf, N)`` block per layer: ``1 - s^2`` is the derivative, so no product is recomputed),
    written into a reused workspace lot (:class:`_Workspace`); nothing else is stored: no
    pre-activations, scaled copies or per-layer weight slices. Backward walks the layers in
    reverse with the model's hand-written ``_fused_backward``, accumulating the state gradient
    in place in one ``(nf, N)`` buffer; the per-layer weight gradients are stacked once at
    the end. Without a backward to come (``keep`` False: no gradient wanted) it keeps nothing
    and alternates between two state buffers. Not twice differentiable
    (``once_differentiable``); the plain layer loop (``fused = False``) is.

    With ``numpy`` True (see :func:`runs_on_numpy`) the same steps run on numpy views of the
    same tensors (the half-steps take either kind of array). A model with a C stack (MS1 on a
    CPU in float32: ``model._c_stack``) runs all its layers there instead, keeping ``y`` and
    a buffer of its own (from the same workspace) for its backward (:mod:`._cstack`).
    """

    @staticmethod
    def forward(
        ctx, model, keep: bool, numpy: bool, y: torch.Tensor, *params: torch.Tensor
    ) -> torch.Tensor:
        n_layers = params[0].shape[0]
        out = y.new_empty(y.shape)  # (nf, N): y_L, returned
        ctx.model, ctx.numpy = model, numpy
        ctx.c = not numpy and model._c_stack(y, params)
        if ctx.c:  # the model's C stack (MS1: ._cstack): keeps y and its own buffer
            ctx.acts = None
            if keep:
                ctx.lease, ctx.acts = model._workspace.take(model._c_buffer_shape(y, params), y)
            model._c_forward(y, out, params, ctx.acts)
            ctx.save_for_backward(y, *params)
            return out
        shape = (n_layers + 1, 2, *y.shape) if keep else (1, 2, *y.shape)
        lease, lot = model._workspace.take(shape, y)
        ctx.lease = lease
        if numpy:
            layers = list(zip(*(_array(p) for p in params), strict=True))  # L tuples of views
            y_, out_, lot_ = _array(y), out.numpy(), lot.numpy()
        else:
            layers = list(zip(*(p.unbind(0) for p in params), strict=True))  # L tuples
            y_, out_, lot_ = y, out, lot
        if not keep:  # no backward to come: two states and one activation suffice
            news = [out_ if (n_layers - j) % 2 else lot_[0, 0] for j in range(n_layers)]
            acts = [lot_[0, 1]] * n_layers
        else:  # lot[j] = (y_{j+1}, activations of layer j); lot[L] = backward workspaces;
            # lot[L-1, 0] (y_L is `out`) holds the backward's state gradient (torch).
            news, acts = [*lot_[: n_layers - 1, 0], out_], list(lot_[:, 1])
        state = model._split_columns(y_)
        for j in range(n_layers):
            new = model._split_columns(news[j])
            model._fused_step(state, new, acts[j], *layers[j])
            state = new
        # The lot and the views of it are neither inputs nor outputs of the node: attributes of
        # ctx (no reference cycle); the input, output and weights go through save_for_backward.
        ctx.lot, ctx.layers = lot_, layers
        ctx.states, ctx.acts = news[:-1], acts
        ctx.save_for_backward(y, out, *params)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: torch.Tensor):
        if ctx.c:
            y, *params = ctx.saved_tensors
            return (None, None, None, *ctx.model._c_backward(y, params, g_out, ctx.acts))
        y, out, *params = ctx.saved_tensors  # (checks that nothing was modified in place)
        model, layers, n_layers = ctx.model, ctx.layers, len(ctx.layers)
        if ctx.numpy:
            y, out = _array(y), out.numpy()
            # The weights transposed (None for the biases): views, for all layers at once.
            arrays = [_array(p) for p in params]
            transposed = [a.transpose(0, 2, 1) if a.ndim == 3 else None for a in arrays]
            g = _array(g_out).copy()  # (nf, N), updated in place, returned as it is
        else:
            transposed = [p.transpose(1, 2).unbind(0) if p.dim() == 3 else None for p in params]
            # updated in place, in the lot's one free block (y_L is `out`, not lot[L-1, 0])
            g = ctx.lot[n_layers - 1, 0].copy_(g_out)
        nones = [None] * n_layers
        layers_t = list(zip(*(nones if p is None else p for p in transposed), strict=True))
        states = [model._split_columns(x) for x in (y, *ctx.states, out)]
        grads = model._split_columns(g)
        t, u = ctx.lot[n_layers]  # (nf, N) workspaces
        layer_grads: list[tuple] = [()] * n_layers
        for j in reversed(range(n_layers)):
            layer_grads[j] = model._fused_backward(
                states[j], states[j + 1], grads, ctx.acts[j], t, u, layers[j], layers_t[j]
            )
        stack = np.array if ctx.numpy else torch.stack  # (np.array: a copy, 2x np.stack's speed)
        param_grads = [stack(g) for g in zip(*layer_grads, strict=True)]  # each (L, ...)
        scales = model._fused_grad_scales()
        for grad, scale in zip(param_grads, scales or (), strict=scales is not None):
            grad *= scale
        if ctx.numpy:
            g, param_grads = torch.from_numpy(g), [torch.from_numpy(p) for p in param_grads]
        return (None, None, None, g, *param_grads)
