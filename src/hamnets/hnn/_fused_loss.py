"""Derivative regression of a tanh HNN or MLP baseline as one C call per training step.

``mean |f(x) - y|^2`` and its parameter gradients, for ``f = J grad H`` of a tanh
:class:`~hamnets.hnn.EnergyMLP` (a plain :class:`~hamnets.hnn.HamiltonianNN`) or ``f`` the
output of a tanh :class:`~hamnets.hnn.MLPField`, are computed by ``_mlp_loss.c`` chunk by
chunk over the batch (128 rows), every chunk's activations and reverse pass held in L2 and
the weight gradients summed chunk after chunk. The products go to the MKL ``sgemm`` torch is
linked with; the elementwise work, ``tanh`` (the C stacks' float ``tanh``, within 2 ulp) and
the skinny products with the input and output layers are loops in C. The result equals the
autograd path to float32 rounding (``tests/test_hnn_fused_loss.py``: loss and every gradient
within 1e-6 relative), not bit for bit: it sums in another order.

On the 2-core Intel Xeon of ``docs/results.md`` a step of the spring experiment's HNN (750
pairs, 200-200 tanh MLP) takes about 4.5 ms against 9.5 ms through the hand-written autograd
nodes (:mod:`hamnets.hnn._tanh_gradient`), whose ``(batch, 200)`` intermediates do not stay in
cache; the baseline's about 2.6 against 4.4 ms.

:func:`regression_gradients` (the loss and the gradients, no autograd graph) and
:func:`regression_loss` (the same as one autograd node) return None wherever the kernel does
not apply (another network, CUDA, float64, no C compiler, a torch without MKL, gradients off,
``model.use_c = False``); the caller then computes the loss through the model's forward.
:class:`RegressionKernel` is what ``hamnets hnn``'s derivative-regression stage calls: the
same numbers, bit for bit, with the checks and argument lists made once and one gradient
buffer reused as the parameters' ``.grad`` (about 0.1 ms a step less in Python).
"""

from __future__ import annotations

import ctypes
import functools
import subprocess
from pathlib import Path

import torch
from torch import nn

from .. import _cbuild

_SOURCE = Path(__file__).with_name("_mlp_loss.c")
_INCLUDE = (Path(__file__).parent.parent / "hdnn",)  # _blocks.h: tanh, CLONES, subnormals
CHUNK_ROWS = 128  # rows of the batch per chunk (fixed: the sums' order is part of the result)


def _sgemm() -> int | None:
    """The address of the BLAS ``sgemm_`` in torch's CPU library (MKL), or None."""
    if not torch.backends.mkl.is_available():
        return None
    for path in (Path(torch.__file__).parent / "lib").glob("libtorch_cpu.*"):
        try:
            return ctypes.cast(ctypes.CDLL(str(path)).sgemm_, ctypes.c_void_p).value
        except (OSError, AttributeError):  # (not a loadable library, or no sgemm_ in it)
            continue
    return None


@functools.cache
def library() -> tuple[ctypes.CDLL, int] | None:
    """The loaded kernel and the ``sgemm`` it calls, or None where either is missing."""
    if not _cbuild.posix():
        return None
    gemm = _sgemm()
    if gemm is None:
        return None
    try:
        lib = _cbuild.load(_SOURCE, include=_INCLUDE)
    except (OSError, subprocess.SubprocessError):
        return None
    ptr, i32, i64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_int64
    lib.mlp_loss.argtypes = [ptr, i32, ptr, ptr, ptr, ptr, ptr, ptr, i32, i32, *[ptr] * 4]
    lib.mlp_loss.argtypes += [ptr, ptr, i64, i32, ctypes.c_float]
    lib.mlp_loss.restype = ctypes.c_double
    return lib, gemm


def _pointers(tensors) -> ctypes.Array:
    return (ctypes.c_void_p * len(tensors))(*[t.data_ptr() for t in tensors])


class _Call:
    """The kernel's arguments for one network (``params`` as :func:`_prepare` lists them),
    with one buffer for every gradient (``grads``: views of it, the parameters' shapes)."""

    def __init__(self, J, hamiltonian: bool, n_hidden: int, params) -> None:
        self.lib, self.gemm = library()
        self.J, self.hamiltonian, self.params = J, hamiltonian, params
        weights, biases = params[0 : 2 * n_hidden : 2], params[1 : 2 * n_hidden : 2]
        self.n_hidden, self.out = n_hidden, params[2 * n_hidden :]  # (w,) or (W_o, b_o)
        self.flat = torch.zeros(sum(p.numel() for p in params))
        sizes = [p.numel() for p in params]
        self.grads = [g.view_as(p) for g, p in zip(self.flat.split(sizes), params, strict=True)]
        g_out = self.grads[2 * n_hidden :]
        self.width = (ctypes.c_int * (n_hidden + 1))(
            params[0].shape[1], *[w.shape[0] for w in weights]
        )
        self.args = (  # (every pointer the kernel reads or writes but the data's)
            _pointers(weights), _pointers(biases), self.out[0].data_ptr(),
            self.out[1].data_ptr() if len(self.out) > 1 else None,
            J.data_ptr() if hamiltonian else None,
        )  # fmt: skip
        g_w, g_b = self.grads[0 : 2 * n_hidden : 2], self.grads[1 : 2 * n_hidden : 2]
        self.grad_args = (
            _pointers(g_w), _pointers(g_b), g_out[0].data_ptr(),
            g_out[1].data_ptr() if len(g_out) > 1 else None,
        )  # fmt: skip

    def run(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """Fill ``grads`` (zeroed first) for the batch ``x``, ``y`` ``(rows, dim)``; returns
        the sum of squared errors."""
        self.flat.zero_()
        rows, dout = y.shape
        sse = self.lib.mlp_loss(
            self.gemm, self.n_hidden, self.width, *self.args, dout, int(self.hamiltonian),
            *self.grad_args, x.data_ptr(), y.data_ptr(), rows, CHUNK_ROWS, 2.0 / (rows * dout),
        )  # fmt: skip
        if sse < 0:
            raise MemoryError("the C loss kernel could not allocate its chunk buffers")
        return sse


def _compute(x, y, J, hamiltonian: bool, n_hidden: int, params) -> tuple[torch.Tensor, list]:
    """One C call: the loss (a scalar) and the gradients of ``params`` (new tensors, views of
    one buffer)."""
    call = _Call(J, hamiltonian, n_hidden, params)
    sse = call.run(x, y)
    return torch.scalar_tensor(sse / y.numel()), call.grads  # (float32, like the loss)


class _RegressionLoss(torch.autograd.Function):
    """``(x, y, J, hamiltonian, n_hidden, *params) -> mean |f(x) - y|^2``; the gradients are
    computed in the forward (one pass) and scaled by the incoming gradient in the backward."""

    @staticmethod
    def forward(ctx, x, y, J, hamiltonian, n_hidden, *params):  # noqa: D102
        loss, ctx.grads = _compute(x, y, J, hamiltonian, n_hidden, params)
        return loss

    @staticmethod
    def backward(ctx, grad_loss):  # noqa: D102
        grads = torch._foreach_mul(ctx.grads, grad_loss)  # (ctx keeps its own: retain_graph)
        return (None, None, None, None, None, *grads)


def _tanh_linears(model: nn.Module) -> tuple[bool, list[nn.Linear]] | None:
    """``(hamiltonian, linears)`` of a model the kernel computes, else None."""
    from ._baseline import MLPField
    from ._hamiltonian import HamiltonianNN
    from ._mlp import EnergyMLP

    if type(model) is HamiltonianNN and type(model.energy) is EnergyMLP:
        linears = model.energy.tanh_linears()
        return None if linears is None else (True, linears)
    if type(model) is MLPField:
        linears = model.net.tanh_linears()
        return None if linears is None else (False, linears)
    return None


def _prepare(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple | None:
    """``(J, hamiltonian, n_hidden, params)`` for the kernel, or None where it does not
    apply."""
    if not getattr(model, "use_c", True) or not torch.is_grad_enabled():
        return None
    found = _tanh_linears(model)
    if found is None:
        return None
    hamiltonian, linears = found
    hidden, last = linears[:-1], linears[-1]
    if any(m.bias is None for m in hidden) or (last.bias is None) != hamiltonian:
        return None
    if linears[0].in_features != x.shape[-1] or (
        not hamiltonian and last.out_features != x.shape[-1]
    ):
        return None  # (the model's forward says what is wrong)
    if hamiltonian:
        params = [t for m in hidden for t in (m.weight, m.bias)] + [last.weight]
        J = model.J
    else:
        params = [t for m in linears for t in (m.weight, m.bias)]
        J = None
    tensors = [x, y, *params] + ([J] if J is not None else [])
    if not (
        x.ndim == 2
        and x.shape == y.shape
        and x.shape[0] > 0
        and all(t.device.type == "cpu" and t.dtype == torch.float32 for t in tensors)
        and all(t.is_contiguous() for t in tensors)
        and not (x.requires_grad or y.requires_grad)
        and library() is not None
    ):
        return None
    return J, hamiltonian, len(hidden), params


def regression_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor | None:
    """``mean |model(x) - y|^2`` (a scalar) through the C kernel, as one autograd node, or
    None where it does not apply (then compute it through ``model(x)``).

    Args:
        model: a :class:`HamiltonianNN` of a tanh :class:`EnergyMLP`, or a tanh
            :class:`MLPField`, on CPU in float32 (``use_c`` not False).
        x: states ``(batch, dim)``; y: target derivatives ``(batch, dim)``, neither
            requiring gradients.
    """
    prepared = _prepare(model, x, y)
    if prepared is None:
        return None
    J, hamiltonian, n_hidden, params = prepared
    return _RegressionLoss.apply(x, y, J, hamiltonian, n_hidden, *params)


def regression_gradients(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, list[tuple[nn.Parameter, torch.Tensor]]] | None:
    """The same loss (detached) and ``[(parameter, gradient), ...]`` without autograd (a
    training step sets ``.grad`` itself: no graph, no backward pass), or None where the
    kernel does not apply. Arguments as for :func:`regression_loss`."""
    prepared = _prepare(model, x, y)
    if prepared is None:
        return None
    J, hamiltonian, n_hidden, params = prepared
    with torch.no_grad():
        loss, grads = _compute(x, y, J, hamiltonian, n_hidden, params)
    return loss, list(zip(params, grads, strict=True))


class RegressionKernel:
    """The kernel bound to one network for a training loop: what :func:`regression_gradients`
    does, with the checks and the argument lists made once, and one gradient buffer reused.

    Build it with :meth:`build` (None where the kernel does not apply); each call checks
    what can change between steps (``model.use_c``, each parameter still the tensor it was
    at the build, the batch's type and shape) and returns None, computing nothing, where
    one no longer fits. The parameters' ``.grad`` are views of the buffer, set at the first
    call and overwritten by each later one (a caller keeping a gradient across steps copies
    it).
    """

    def __init__(self, model: nn.Module, prepared: tuple) -> None:
        J, hamiltonian, n_hidden, params = prepared
        self.model, self.dim = model, params[0].shape[1]
        self.call = _Call(J, hamiltonian, n_hidden, params)
        self.tensors = [*params, J] if hamiltonian else list(params)
        self.addresses = [t.data_ptr() for t in self.tensors]

    @classmethod
    def build(cls, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> RegressionKernel | None:
        """The kernel for ``model`` and batches like ``x``, ``y`` ``(batch, dim)``, or None
        (then train through the model's forward)."""
        prepared = _prepare(model, x, y)
        return None if prepared is None else cls(model, prepared)

    def __call__(self, x: torch.Tensor, y: torch.Tensor) -> float | None:
        """The batch's mean squared error (rounded to float32, as a float32 loss tensor
        holds it), every parameter's ``.grad`` set to its gradient; None where the kernel
        no longer applies (nothing computed)."""
        f32, call = torch.float32, self.call
        if not getattr(self.model, "use_c", True) or not all(
            t.dtype is f32 and t.device.type == "cpu" and t.is_contiguous() and not t.requires_grad
            for t in (x, y)
        ):  # fmt: skip
            return None
        if x.ndim != 2 or x.shape != y.shape or x.shape[1] != self.dim or x.shape[0] == 0:
            return None
        if [t.data_ptr() for t in self.tensors] != self.addresses:
            return None  # (a parameter's storage was replaced)
        sse = call.run(x, y)
        for p, g in zip(call.params, call.grads, strict=True):
            if p.grad is not g:
                p.grad = g
        return ctypes.c_float(sse / y.numel()).value


def main() -> int:
    """Build the kernel, or say why not (``make install`` calls it): 0 built, 1 not."""
    return _cbuild.install(_SOURCE, "the HNN loss kernel", "autograd runs", _INCLUDE)
