"""The H-DNN base class: it owns the loop over layers; each model owns one layer step."""

from __future__ import annotations

import math
import weakref
from typing import ClassVar

import torch
from torch import nn
from torch.autograd.function import once_differentiable

State = tuple[torch.Tensor, ...]
LayerParams = tuple[torch.Tensor, ...]


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
    """

    @staticmethod
    def forward(ctx, model: HamiltonianDNN, keep: bool, y: torch.Tensor, *params: torch.Tensor):
        layers = list(zip(*(p.unbind(0) for p in params), strict=True))  # L tuples
        n_layers = len(layers)
        out = y.new_empty(y.shape)  # (nf, N): y_L, returned
        if not keep:  # no backward to come: two states and one activation suffice
            lease, lot = model._workspace.take((1, 2, *y.shape), y)
            news = [out if (n_layers - j) % 2 else lot[0, 0] for j in range(n_layers)]
            acts = [lot[0, 1]] * n_layers
        else:  # lot[j] = (y_{j+1}, activations of layer j); lot[L] = backward workspaces;
            # lot[L-1, 0] (y_L is `out`) holds the backward's state gradient.
            lease, lot = model._workspace.take((n_layers + 1, 2, *y.shape), y)
            news, acts = [*lot[: n_layers - 1, 0].unbind(0), out], lot[:, 1].unbind(0)
        state = model._split_columns(y)
        for j in range(n_layers):
            new = model._split_columns(news[j])
            model._fused_step(state, new, acts[j], *layers[j])
            state = new
        # The lot and the views of it are neither inputs nor outputs of the node: attributes of
        # ctx (no reference cycle); the input, output and weights go through save_for_backward.
        ctx.model, ctx.lot, ctx.lease, ctx.layers = model, lot, lease, layers
        ctx.states, ctx.acts = news[:-1], acts
        ctx.save_for_backward(y, out, *params)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, g_out: torch.Tensor):
        model, layers, n_layers = ctx.model, ctx.layers, len(ctx.layers)
        y, out, *params = ctx.saved_tensors  # (checks that nothing was modified in place)
        states = [model._split_columns(x) for x in (y, *ctx.states, out)]
        # The weights transposed, per layer (None for the biases), made once for all layers.
        transposed = [p.transpose(1, 2).unbind(0) if p.dim() == 3 else None for p in params]
        layers_t = [tuple(p and p[j] for p in transposed) for j in range(n_layers)]
        # (nf, N), updated in place: in the lot's one free block (y_L is `out`, not lot[L-1, 0])
        g = ctx.lot[n_layers - 1, 0].copy_(g_out)
        grads = model._split_columns(g)
        t, u = ctx.lot[n_layers]  # (nf, N) workspaces
        layer_grads: list[tuple[torch.Tensor, ...]] = [()] * n_layers
        for j in reversed(range(n_layers)):
            layer_grads[j] = model._fused_backward(
                states[j], states[j + 1], grads, ctx.acts[j], t, u, layers[j], layers_t[j]
            )
        param_grads = [torch.stack(g) for g in zip(*layer_grads, strict=True)]  # each (L, ...)
        scales = model._fused_grad_scales()
        for grad, scale in zip(param_grads, scales or (), strict=scales is not None):
            grad.mul_(scale)
        return (None, None, g, *param_grads)


class HamiltonianDNN(nn.Module):
    """A deep network whose layers are the steps of a discretised ODE ``y' = f(y, t)``.

    Layer ``j`` (``j = 0 .. L-1``) maps ``y_j`` to ``y_{j+1}`` with step size ``h = T / L``.
    Weights of all layers are stacked with the **layer index first**. Subclasses define:

    * ``_stacked()``: the stacked per-layer tensors used by a step (computed once per forward,
      e.g. ``J K_j`` for every layer at once), each of shape ``(L, ...)``;
    * ``_step(state, *params_j)``: one layer on the (possibly split) state;
    * ``structured()``: the full ``K`` of shape ``(L, nf, nf)`` and ``b`` of shape ``(L, nf)``
      in the common form ``y' = J K tanh(K^T y + b)``, used by the smoothness regulariser;
    * optionally ``_split``/``_merge`` when the step works on the two halves of the state;
    * optionally the fused path: ``_fused_params()``, ``_fused_step`` and ``_fused_backward``,
      the same layer on channels-first states ``(nf, N)`` with its backward written out
      (built from the half-steps of :mod:`._halfsteps`); the base runs them as one autograd
      node (:meth:`forward_channels_first`, and :meth:`forward` when ``fused``).

    Args:
        nf: number of features (state dimension).
        n_layers: number of layers ``L >= 1``.
        t_end: final time ``T > 0``; the step is ``h = T / L``.
        generator: optional ``torch.Generator`` for the N(0, 1) initialisation.
    """

    #: whether one layer is a symplectic map (then ``self.J`` is the structure it preserves).
    symplectic: ClassVar[bool] = False
    #: whether the model splits the state in two halves (then ``nf`` must be even).
    splits_state: ClassVar[bool] = False
    #: whether :meth:`forward` runs the fused layers (one autograd node with a hand-written
    #: backward) where the model provides them; ``False`` runs the plain layer loop, whose
    #: numbers the fused path equals to float rounding. Set per instance. Off by default
    #: until the recorded figures of docs/results.md are re-run with it (float rounding moves
    #: training trajectories, so the published accuracies would move in their last digits).
    fused: bool = False
    #: the fused node has a fixed cost (setting up, stacking the weight gradients: about
    #: 0.1-0.2 ms on one core), so it runs when it pays: from this many layers, or from
    #: ``fused_min_columns`` states (the per-pixel stacks, where it saves memory traffic).
    #: Measured at batch 125, nf 4: 8-22% faster from 16 layers, 20% slower at 4 layers.
    fused_min_layers: ClassVar[int] = 8
    fused_min_columns: ClassVar[int] = 16384

    def __init__(self, nf: int, n_layers: int, t_end: float) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(nf, int) or isinstance(nf, bool) or nf < 1:
            raise ValueError(f"{name}: nf must be a positive integer, got nf={nf!r}.")
        if self.splits_state and nf % 2:
            raise ValueError(
                f"{name} splits the state into two halves and needs an even nf, got nf={nf}; "
                f"pass nf={nf + 1} (or {nf - 1})."
            )
        if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 1:
            raise ValueError(f"{name}: n_layers must be an integer >= 1, got {n_layers!r}.")
        t_end = float(t_end)
        if not math.isfinite(t_end) or t_end <= 0:
            raise ValueError(f"{name}: t_end must be a finite number > 0, got {t_end!r}.")
        self.nf = nf
        self.n_layers = n_layers
        self.t_end = t_end
        self.h = t_end / n_layers
        self._workspace = _Workspace()  # reused memory of the fused node (not state)

    # -- construction helpers -------------------------------------------------------------
    @staticmethod
    def _randn(*shape: int, generator: torch.Generator | None) -> nn.Parameter:
        """An N(0, 1) parameter (drawn on the CPU so that a generator makes it reproducible)."""
        return nn.Parameter(torch.randn(*shape, generator=generator))

    # -- what a subclass provides ------------------------------------------------------------
    def _stacked(self) -> LayerParams:
        raise NotImplementedError

    def _step(self, state: State, *params: torch.Tensor) -> State:
        raise NotImplementedError

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Full ``K`` (L, nf, nf) and ``b`` (L, nf) in ``y' = J K tanh(K^T y + b)``."""
        raise NotImplementedError

    def _split(self, y: torch.Tensor) -> State:
        if self.splits_state:
            n = self.nf // 2
            return (y[..., :n], y[..., n:])
        return (y,)

    def _merge(self, state: State) -> torch.Tensor:
        return torch.cat(state, dim=-1) if len(state) > 1 else state[0]

    # -- the fused path: what a subclass provides (optional) --------------------------------
    # States are channels first, ``(nf, N)``: one column per sample, halves are row blocks.
    def _fused_params(self) -> LayerParams:
        """The stacked ``(L, ...)`` tensors :meth:`_fused_step` takes, built with autograd
        from the parameters (the fused node returns their gradients)."""
        raise NotImplementedError

    def _fused_grad_scales(self) -> tuple[float, ...] | None:
        """Factors applied once to the stacked gradients :meth:`_fused_backward` returns (a
        step size left out of every layer's gradient), one per :meth:`_fused_params`; None:
        no factors."""
        return None

    def _fused_step(
        self, state: State, new: State, act: torch.Tensor, *params: torch.Tensor
    ) -> None:
        """One layer on channels-first (half-)states: writes ``y_{j+1}`` into ``new`` and the
        layer's activations (``nf`` rows in all) into ``act`` ``(nf, N)``, kept for the
        backward. See :mod:`._halfsteps`."""
        raise NotImplementedError

    def _fused_backward(
        self,
        state: State,
        new_state: State,
        grads: State,
        act: torch.Tensor,
        t: torch.Tensor,
        u: torch.Tensor,
        params: LayerParams,
        params_t: tuple[torch.Tensor | None, ...],
    ) -> tuple[torch.Tensor, ...]:
        """One layer's backward: ``grads`` holds ``dL/dy_{j+1}`` and is turned **in place**
        into ``dL/dy_j``; returns ``dL/dparams_j`` (divided by :meth:`_fused_grad_scales`).
        ``act``: what :meth:`_fused_step` wrote (read only); ``t``, ``u``: ``(nf, N)``
        workspaces; ``params``: layer ``j``'s slices of :meth:`_fused_params`, ``params_t``
        the same matrices transposed (None for vectors)."""
        raise NotImplementedError

    @property
    def has_fused(self) -> bool:
        """Whether the model provides a fused step (all the H-DNNs do; the MLP does not)."""
        return type(self)._fused_step is not HamiltonianDNN._fused_step

    def _runs_fused(self, n_layers: int, n_states: int) -> bool:
        """Whether ``n_layers`` layers on ``n_states`` states run as the fused node."""
        if not (self.fused and self.has_fused) or n_layers < 1:
            return False
        return n_layers >= self.fused_min_layers or n_states >= self.fused_min_columns

    def _split_columns(self, y: torch.Tensor) -> State:
        if self.splits_state:
            n = self.nf // 2
            return (y[:n], y[n:])
        return (y,)

    def _merge_columns(self, state: State) -> torch.Tensor:
        return torch.cat(state, dim=0) if len(state) > 1 else state[0]

    def forward_channels_first(
        self, y: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Layers ``[start, stop)`` on states stored as columns: ``(nf, N) -> (nf, N)``.

        The same map as :meth:`forward` on ``y.t()``; with ``fused`` (and a model that
        provides a fused step, and enough work: see ``fused_min_layers``) the layers run as one
        autograd node whose products are ``(nf, nf) @ (nf, N)``, the layout that suits many
        small states (e.g. the pixels of a feature map).
        """
        stop = self.n_layers if stop is None else stop
        self._check_range(start, stop)
        if y.dim() != 2 or y.shape[0] != self.nf:
            raise ValueError(
                f"{type(self).__name__}.forward_channels_first expects states of shape "
                f"({self.nf}, N), got {tuple(y.shape)}."
            )
        if start == stop:
            return y
        if not self._runs_fused(stop - start, y.shape[1]) or _functorch_active():
            # (vmap / jacrev need rules the fused node does not have: the loop has them)
            return self._loop(y.t(), start, stop).t()
        params = [p[start:stop] for p in self._fused_params()]
        keep = torch.is_grad_enabled() and any(t.requires_grad for t in (y, *params))
        return _FusedLayers.apply(self, keep, y, *params)

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.n_layers:
            raise ValueError(
                f"layers [start, stop) must satisfy 0 <= start <= stop <= {self.n_layers}, "
                f"got start={start}, stop={stop}."
            )

    # -- the one layer loop ------------------------------------------------------------------
    def forward(
        self,
        y: torch.Tensor,
        start: int = 0,
        stop: int | None = None,
        return_states: bool = False,
    ) -> torch.Tensor:
        """Run layers ``[start, stop)``.

        Args:
            y: states of shape ``(batch, nf)``.
            start, stop: first layer and one past the last (default: all layers).
            return_states: also return every intermediate state.

        Returns:
            ``y_stop`` of shape ``(batch, nf)``, or, with ``return_states``, the states
            ``y_start .. y_stop`` stacked as ``(stop - start + 1, batch, nf)``.

        With ``fused`` (the default) and without ``return_states`` the layers run as one
        autograd node (see :meth:`forward_channels_first`); the result then is a transposed
        view of a channels-first tensor.
        """
        stop = self.n_layers if stop is None else stop
        self._check_range(start, stop)
        if y.dim() != 2 or y.shape[-1] != self.nf:
            raise ValueError(
                f"{type(self).__name__} expects states of shape (batch, {self.nf}), "
                f"got {tuple(y.shape)}."
            )
        if not return_states and self._runs_fused(stop - start, y.shape[0]):
            return self.forward_channels_first(y.t(), start, stop).t()  # (batch, nf)
        return self._loop(y, start, stop, return_states)

    def _loop(
        self, y: torch.Tensor, start: int, stop: int, return_states: bool = False
    ) -> torch.Tensor:
        """The plain layer loop on ``(batch, nf)`` states (see :meth:`forward`)."""
        per_layer = [p.unbind(0) for p in self._stacked()]  # each: L tensors
        state = self._split(y)
        states = [y] if return_states else None
        for j in range(start, stop):
            state = self._step(state, *(p[j] for p in per_layer))
            if states is not None:
                states.append(self._merge(state))
        if states is not None:
            return torch.stack(states)  # (stop - start + 1, batch, nf)
        return self._merge(state)

    # -- one layer at a time, for analysis (the loop above stays the only layer loop) ------
    def layer_params(self) -> LayerParams:
        """The per-layer parameters as the step uses them, each stacked as ``(L, ...)``.

        Slice ``j`` of every tensor (``[p[j] for p in model.layer_params()]``) is what
        :meth:`layer_step` needs for layer ``j``.
        """
        return self._stacked()

    def layer_step(self, y: torch.Tensor, *params_j: torch.Tensor) -> torch.Tensor:
        """One layer ``y_{j+1} = Phi_j(y_j)`` on full states, with layer ``j``'s parameters.

        Args:
            y: states ``y_j`` of shape ``(batch, nf)``.
            params_j: slice ``j`` of each tensor of :meth:`layer_params`.

        Returns:
            ``y_{j+1}`` of shape ``(batch, nf)``; the same numbers as ``forward(y, j, j + 1)``.
        """
        return self._merge(self._step(self._split(y), *params_j))

    # -- the smoothness regulariser ----------------------------------------------------------
    def regularizer(self, alpha: float) -> torch.Tensor:
        """``R = alpha h sum_j (0.5 ||K_{j+1} - K_j||_F^2 + 0.5 ||b_{j+1} - b_j||^2)``.

        Computed over the full structured ``K`` and ``b`` of :meth:`structured` (for MS
        models the zero and mirrored blocks count, as in the papers).
        """
        K, b = self.structured()
        dK = K[1:] - K[:-1]  # (L-1, nf, nf)
        db = b[1:] - b[:-1]  # (L-1, nf)
        return alpha * self.h * 0.5 * (dK.pow(2).sum() + db.pow(2).sum())

    def extra_repr(self) -> str:
        return f"nf={self.nf}, n_layers={self.n_layers}, t_end={self.t_end:g}, h={self.h:g}"
