"""Symplectic Euler for separable Hamiltonians."""

from __future__ import annotations

import torch

from ._base import SeparableSolver


class SymplecticEuler(SeparableSolver):
    """Symplectic Euler (momentum first): ``p_{k+1} = p_k - h V'(q_k)``,
    ``q_{k+1} = q_k + h T'(p_{k+1})``. Order 1, symplectic; needs ``H = T(p) + V(q)``."""

    order = 1
    symplectic = True

    def step(self, field, x: torch.Tensor, h: float) -> torch.Tensor:
        q, p = self.split(x)
        p = p - h * field.dh_dq(q)
        q = q + h * field.dh_dp(p)
        return torch.cat([q, p], dim=1)
