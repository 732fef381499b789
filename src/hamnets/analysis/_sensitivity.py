"""Backward sensitivity matrices (BSMs) ``dy_L / dy_j`` of a layered network, exactly.

For a network ``y_{j+1} = Phi_j(y_j)`` (``j = 0 .. L-1``) the chain rule gives
``dy_L/dy_j = J_{L-1} J_{L-2} ... J_j`` with the per-layer Jacobians
``J_j = dPhi_j/dy (y_j)``. We compute all ``J_j`` at once (``torch.func.jacrev`` of one layer,
vectorised over layers with ``vmap``) and multiply them **once**, backwards from the output:
``M_L = I``, ``M_j = M_{j+1} J_j``. That is ``L`` small matrix products in total, not a
network run per layer and not finite differences.

Layout: every BSM is a Jacobian in numerator layout, ``M[a, b] = d y_L[a] / d y_j[b]``
(the layout of ``torch.autograd.functional.jacobian``). The papers' denominator layout is
its transpose; norms, singular values and determinants are the same in both.
"""

from __future__ import annotations

import torch
from torch.func import jacrev, vmap

from ..hdnn import HamiltonianDNN

__all__ = ["accumulate_backward", "backward_sensitivity", "layer_jacobians"]


def _check_states(model: HamiltonianDNN, y0: torch.Tensor) -> None:
    if not isinstance(model, HamiltonianDNN):
        raise ValueError(
            f"expected a hamnets.hdnn.HamiltonianDNN (an H-DNN or the MLP baseline), "
            f"got {type(model).__name__}."
        )
    if not isinstance(y0, torch.Tensor) or y0.dim() != 2 or y0.shape[-1] != model.nf:
        shape = tuple(y0.shape) if isinstance(y0, torch.Tensor) else type(y0).__name__
        raise ValueError(
            f"y0 must be a tensor of shape (batch, {model.nf}) for {type(model).__name__}, "
            f"got {shape}; add a batch dimension with y0.unsqueeze(0) for a single state."
        )
    if y0.shape[0] == 0:
        raise ValueError("y0 is an empty batch; pass at least one state.")


def layer_jacobians(model: HamiltonianDNN, y0: torch.Tensor) -> torch.Tensor:
    """Jacobians of every layer at the states the network passes through.

    Args:
        model: an H-DNN (or the MLP baseline) with ``L`` layers and ``nf`` features.
        y0: input states of shape ``(batch, nf)``, on the model's device and dtype.

    Returns:
        ``J`` of shape ``(batch, L, nf, nf)`` with ``J[b, j] = dPhi_j/dy (y_j[b])``.
    """
    _check_states(model, y0)
    params = tuple(p.detach() for p in model.layer_params())  # each (L, ...)
    y0 = y0.detach()
    with torch.no_grad():
        states = model(y0, return_states=True)  # (L+1, batch, nf)

    def summed_layer(y: torch.Tensor, *params_j: torch.Tensor) -> torch.Tensor:
        # Samples do not interact, so d(sum_b Phi(y)_b)/dy_b is sample b's Jacobian.
        return model.layer_step(y, *params_j).sum(0)  # (nf,)

    per_layer = vmap(jacrev(summed_layer), in_dims=(0,) * (1 + len(params)))
    jac = per_layer(states[:-1], *params)  # (L, nf_out, batch, nf_in)
    return jac.permute(2, 0, 1, 3)  # (batch, L, nf, nf)


def accumulate_backward(jacobians: torch.Tensor) -> torch.Tensor:
    """Products of per-step Jacobians from every step to the end, in one backward sweep.

    Args:
        jacobians: ``(..., L, n, n)``, step ``j``'s Jacobian ``J_j`` at index ``j``.

    Returns:
        ``M`` of shape ``(..., L+1, n, n)`` with ``M[..., L] = I`` and
        ``M[..., j] = J_{L-1} ... J_j`` (``M_j = M_{j+1} J_j``).
    """
    if jacobians.dim() < 3 or jacobians.shape[-1] != jacobians.shape[-2]:
        raise ValueError(f"jacobians must have shape (..., L, n, n), got {tuple(jacobians.shape)}.")
    n_steps, n = jacobians.shape[-3], jacobians.shape[-1]
    batch = jacobians.shape[:-3]
    eye = torch.eye(n, dtype=jacobians.dtype, device=jacobians.device)
    out = [eye.expand(*batch, n, n)]
    for j in range(n_steps - 1, -1, -1):
        out.append(out[-1] @ jacobians[..., j, :, :])  # M_j = M_{j+1} J_j
    return torch.stack(out[::-1], dim=-3)  # (..., L+1, n, n)


def backward_sensitivity(
    model: HamiltonianDNN, y0: torch.Tensor, *, mean: bool = False
) -> torch.Tensor:
    """Exact backward sensitivity matrices ``dy_L / dy_j`` for ``j = 0 .. L``.

    The gradient of any loss of ``y_L`` with respect to ``y_j`` is ``M_j^T dloss/dy_L``, so
    ``||M_j||`` bounds how much of the output gradient reaches layer ``j``. Computed by
    automatic differentiation of one layer at a time and one backward sweep (see the module
    docstring); works for every H-DNN and for :class:`hamnets.hdnn.MLP`, on the model's
    device, in the model's dtype (use float64 for checks). Nothing is recorded for autograd.

    Args:
        model: an H-DNN (or the MLP baseline) with ``L`` layers and ``nf`` features.
        y0: input states of shape ``(batch, nf)``.
        mean: return the batch mean of the BSMs instead of one per sample.

    Returns:
        ``(batch, L+1, nf, nf)``, or ``(L+1, nf, nf)`` with ``mean=True``; index ``j`` holds
        ``dy_L/dy_j`` in numerator layout, and index ``L`` is the identity.
    """
    bsm = accumulate_backward(layer_jacobians(model, y0))  # (batch, L+1, nf, nf)
    return bsm.mean(0) if mean else bsm
