"""Symplectic Euler for separable Hamiltonians."""

from __future__ import annotations

import torch

from ._base import SeparableSolver, TimedField


class SymplecticEuler(SeparableSolver):
    """Symplectic Euler (momentum first): ``p_{k+1} = p_k - h V'(t_k, q_k)``,
    ``q_{k+1} = q_k + h T'(t_k, p_{k+1})``. Order 1, symplectic; needs
    ``H = T(p) + V(q)`` (or ``T(t, p) + V(t, q)``)."""

    order = 1
    symplectic = True

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        q, p = self.split(x)
        p = p - h * f.dh_dq(t, q)
        q = q + h * f.dh_dp(t, p)
        return torch.cat([q, p], dim=1)
