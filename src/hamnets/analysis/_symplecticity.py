"""How far a stack of BSMs is from symplectic: ``||M^T J M - J||``."""

from __future__ import annotations

import torch

from ..hdnn import HamiltonianDNN

__all__ = ["symplecticity_residual"]


def symplecticity_residual(
    structure: HamiltonianDNN | torch.Tensor, bsm: torch.Tensor
) -> torch.Tensor:
    """Frobenius norm of ``M^T J M - J`` for every matrix ``M`` of ``bsm``.

    A composition of symplectic layers is symplectic, so for H2 and MS3 every BSM has a zero
    residual up to rounding, and therefore ``||M||_2 >= 1`` (singular values come in pairs
    ``s, 1/s``): gradients cannot vanish.

    Args:
        structure: a model whose class says it is symplectic (``type(model).symplectic``; its
            buffer ``J`` is used), or the structure matrix ``J`` itself, shape ``(n, n)``.
        bsm: matrices of shape ``(..., n, n)``.

    Returns:
        Shape ``(...)``: one residual per matrix.

    Raises:
        ValueError: for a model that is not symplectic (H1, MS1, MS2, MLP), or mismatched
            shapes.
    """
    if isinstance(structure, HamiltonianDNN):
        if not type(structure).symplectic:
            raise ValueError(
                f"{type(structure).__name__} is not symplectic (its class sets "
                f"symplectic = False), so M^T J M = J is not expected; the symplectic "
                f"models are H2 and MS3. Pass a J matrix explicitly to measure it anyway."
            )
        J = structure.J
    elif isinstance(structure, torch.Tensor):
        J = structure
    else:
        raise ValueError(
            f"structure must be a model or a J matrix, got {type(structure).__name__}."
        )
    n = J.shape[-1]
    if J.dim() != 2 or J.shape[0] != n or bsm.dim() < 2 or bsm.shape[-2:] != (n, n):
        raise ValueError(
            f"J of shape {tuple(J.shape)} does not fit BSMs of shape {tuple(bsm.shape)}; "
            f"both must be (n, n) in their last two dimensions."
        )
    J = J.to(dtype=bsm.dtype, device=bsm.device)
    return torch.linalg.matrix_norm(bsm.transpose(-1, -2) @ J @ bsm - J)
