"""Explicit (forward) Euler."""

from __future__ import annotations

import torch

from ._base import FixedStepSolver, TimedField


class Euler(FixedStepSolver):
    """Forward Euler, ``x_{k+1} = x_k + h f(t_k, x_k)``. Order 1, not symplectic."""

    order = 1
    symplectic = False
    c, a, b = (0.0,), ((),), (1.0,)  # Butcher tableau (for SymplecticAdjoint)

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        return x + h * f(t, x)
