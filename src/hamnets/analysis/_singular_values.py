"""Per-layer size of a stack of BSMs: the largest and the smallest singular value."""

from __future__ import annotations

import torch

__all__ = ["smallest_singular_value", "spectral_norm"]


def _check_square(bsm: torch.Tensor, what: str) -> None:
    if bsm.dim() < 2 or bsm.shape[-1] != bsm.shape[-2]:
        raise ValueError(f"{what} needs square matrices (..., n, n), got {tuple(bsm.shape)}.")


def spectral_norm(bsm: torch.Tensor) -> torch.Tensor:
    """Largest singular value ``||M||_2`` of each matrix.

    Args:
        bsm: matrices of shape ``(..., n, n)``, e.g. ``(L+1, nf, nf)`` from
            :func:`backward_sensitivity` with ``mean=True``.

    Returns:
        Shape ``(...)``: one norm per matrix (per layer).
    """
    _check_square(bsm, "spectral_norm")
    return torch.linalg.matrix_norm(bsm, ord=2)


def smallest_singular_value(bsm: torch.Tensor) -> torch.Tensor:
    """Smallest singular value ``sigma_min(M)`` of each matrix, shape ``(...)``.

    ``||M v|| >= sigma_min ||v||`` for every ``v``: a lower bound on the gradient that reaches
    a layer whatever the direction of the output gradient.
    """
    _check_square(bsm, "smallest_singular_value")
    return torch.linalg.svdvals(bsm)[..., -1]
