"""The two half-steps every fused H-DNN layer is made of, channels first, with their backward.

States here are **channels first**: a half-state is ``(d, N)`` with one column per sample (or
per pixel), so that a layer's product is one wide ``(d, d) @ (d, N)`` matrix product.

On a CPU the cost of these layers is memory traffic, above all the first touch of freshly
allocated memory (a new ``(d, N)`` tensor of a few MB is page-faulted in on every step), so
the functions write into buffers the caller owns (the fused node reuses them from step to
step): ``out`` receives the new half-state and ``s`` the activation ``tanh(a)``, which the
backward reads (``tanh' = 1 - s^2``) instead of recomputing the product; ``t`` is a
workspace. ``tanh`` is :func:`hamnets._kernels.tanh_` (numpy's SIMD loop on a CPU: about
9x faster than ``torch.tanh`` on the per-pixel stacks, within 1.4 ulp). The backward
functions never write into ``s`` (a graph kept with ``retain_graph`` can be differentiated
again).

* :func:`shear` ``x_to' = x_to + M tanh(Wt x_from + b)`` (H1, H2, MS3: the Hamiltonian
  form ``J K tanh(K^T y + b)``; the step size and sign are folded into ``M = +-h J K``);
* :func:`residual` ``x_to' = x_to + h tanh(A x_from + b)`` (MS1, MS2: the activation outside
  the weights).

Weights come as the model stacks them once per forward: ``Wt`` the transposed weight, ``b`` a
column ``(d, 1)``. The backward functions add the gradient with respect to ``x_from``
**in place** into ``g_from`` (the gradient buffer of ``x_from``; it is ``g_to`` itself when
``x_from`` is ``x_to``, as in H1 and MS2) and return the weight gradients; the gradient with
respect to ``x_to`` is ``g_to`` (the identity part of the step), left as it is.

Every function also takes numpy arrays (all of its arguments then are; the fused node's
numpy mode, :mod:`._fused`): the same arithmetic, in numpy's operations.
"""

from __future__ import annotations

import numpy as np
import torch

from .._kernels import tanh_

Tensor = torch.Tensor


def _tanh_backward_np(g: np.ndarray, s: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = (1 - s^2) g`` in numpy (``out`` may be ``g``)."""
    d = np.multiply(s, s)
    np.subtract(1, d, out=d)
    return np.multiply(g, d, out=out)


def _tanh_backward(g: Tensor, s: Tensor, *, out: Tensor) -> Tensor:
    """``out = (1 - s^2) g``, the gradient through ``s = tanh(a)``, in one pass (torch's own
    kernel for it: about 1.7x faster than a product and an ``addcmul``); ``out`` may be ``g``."""
    return torch.ops.aten.tanh_backward.grad_input(g, s, grad_input=out)


def _activation(A, x, b, *, s) -> None:
    """``s = tanh(A x + b)``, for torch tensors or numpy arrays alike."""
    if isinstance(s, np.ndarray):
        np.matmul(A, x, out=s)
        s += b
        np.tanh(s, out=s)
    else:
        tanh_(torch.addmm(b, A, x, out=s))


def shear(
    x_from: Tensor, x_to: Tensor, Wt: Tensor, b: Tensor, M: Tensor, *, out: Tensor, s: Tensor
) -> None:
    """``out = x_to + M tanh(Wt x_from + b)``; ``s`` receives the activation.

    Shapes: ``x_from (d_from, N)``, ``x_to (d_to, N)``, ``Wt (d_a, d_from)``, ``b (d_a, 1)``,
    ``M (d_to, d_a)``, ``out (d_to, N)``, ``s (d_a, N)``.
    """
    _activation(Wt, x_from, b, s=s)  # (d_a, N)
    if isinstance(s, np.ndarray):
        np.matmul(M, s, out=out)
        out += x_to
    else:
        torch.addmm(x_to, M, s, out=out)  # (d_to, N)


def shear_backward(
    x_from: Tensor,
    s: Tensor,
    g_to: Tensor,
    g_from: Tensor,
    W: Tensor,
    Mt: Tensor,
    *,
    t: Tensor,
) -> tuple[Tensor, Tensor, Tensor]:
    """Backward of :func:`shear` from ``g_to = dL/dx_to'`` and its activation ``s``; returns
    ``(dL/dWt, dL/db, dL/dM)`` and adds ``dL/dx_from`` into ``g_from``. Takes the weights
    transposed, ``W = Wt^T`` and ``Mt = M^T``; ``t``: a workspace ``(d_a, N)``."""
    if isinstance(s, np.ndarray):
        gM = g_to @ s.T
        e = _tanh_backward_np(np.matmul(Mt, g_to, out=t), s, out=t)
        gWt, gb = e @ x_from.T, e.sum(1, keepdims=True)
        g_from += W @ e
        return gWt, gb, gM
    gM = torch.mm(g_to, s.t())  # (d_to, d_a)
    e = torch.mm(Mt, g_to, out=t)  # (d_a, N): dL/ds
    _tanh_backward(e, s, out=e)  # (d_a, N): (1 - s^2) dL/ds = dL/da
    gWt = torch.mm(e, x_from.t())  # (d_a, d_from)
    gb = e.sum(1, keepdim=True)  # (d_a, 1)
    g_from.addmm_(W, e)  # last: g_from may be g_to
    return gWt, gb, gM


def residual(
    x_from: Tensor, x_to: Tensor, A: Tensor, b: Tensor, h: float, *, out: Tensor, s: Tensor
) -> None:
    """``out = x_to + h tanh(A x_from + b)``; ``s`` receives the activation.

    Shapes: ``x_from (d_from, N)``, ``x_to (d_to, N)``, ``A (d_to, d_from)``, ``b (d_to, 1)``,
    ``out (d_to, N)``, ``s (d_to, N)``.
    """
    _activation(A, x_from, b, s=s)  # (d_to, N)
    if isinstance(s, np.ndarray):
        np.multiply(s, h, out=out)
        out += x_to
    else:
        torch.add(x_to, s, alpha=h, out=out)


def residual_backward(
    x_from: Tensor, s: Tensor, g_to: Tensor, g_from: Tensor, At: Tensor, h: float, *, t: Tensor
) -> tuple[Tensor, Tensor]:
    """Backward of :func:`residual` from ``g_to = dL/dx_to'`` and its activation ``s``;
    returns ``(dL/dA, dL/db) / h`` (the caller scales the stacked gradients of all layers
    once) and adds ``dL/dx_from`` into ``g_from``. Takes ``At = A^T``; ``t``: a workspace
    ``(d_to, N)``."""
    if isinstance(s, np.ndarray):
        e = _tanh_backward_np(g_to, s, out=t)
        gA, gb = e @ x_from.T, e.sum(1, keepdims=True)
        g_from += h * (At @ e)
        return gA, gb
    e = _tanh_backward(g_to, s, out=t)  # (d_to, N): (1 - s^2) g = dL/da / h
    gA = torch.mm(e, x_from.t())  # (d_to, d_from)
    gb = e.sum(1, keepdim=True)  # (d_to, 1)
    g_from.addmm_(At, e, alpha=h)  # last: g_from may be g_to
    return gA, gb
