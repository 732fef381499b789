"""Leapfrog (Stormer-Verlet) for separable Hamiltonians."""

from __future__ import annotations

import torch

from ._base import SeparableSolver


def leapfrog_step(field, q: torch.Tensor, p: torch.Tensor, h: float):
    """Kick-drift-kick: ``p += -h/2 V'(q)``; ``q += h T'(p)``; ``p += -h/2 V'(q)``."""
    p = p - 0.5 * h * field.dh_dq(q)
    q = q + h * field.dh_dp(p)
    p = p - 0.5 * h * field.dh_dq(q)
    return q, p


class Leapfrog(SeparableSolver):
    """Stormer-Verlet leapfrog, kick-drift-kick form (see :func:`leapfrog_step`).

    Order 2, symplectic and time-reversible (a step of ``-h`` undoes a step of ``h``);
    needs ``H = T(p) + V(q)``."""

    order = 2
    symplectic = True

    def step(self, field, x: torch.Tensor, h: float) -> torch.Tensor:
        q, p = leapfrog_step(field, *self.split(x), h)
        return torch.cat([q, p], dim=1)
