"""The classical fourth-order Runge-Kutta method."""

from __future__ import annotations

import torch

from ._base import FixedStepSolver, TimedField


class RK4(FixedStepSolver):
    """Classical Runge-Kutta: ``k1 = f(t, x)``, ``k2 = f(t + h/2, x + h k1 / 2)``,
    ``k3 = f(t + h/2, x + h k2 / 2)``, ``k4 = f(t + h, x + h k3)``,
    ``x_{k+1} = x + h (k1 + 2 k2 + 2 k3 + k4) / 6``.
    Order 4, not symplectic (its energy error grows linearly with time)."""

    order = 4
    symplectic = False
    # Butcher tableau (read by SymplecticAdjoint's stage-wise reverse sweep)
    c = (0.0, 0.5, 0.5, 1.0)
    a = ((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0))
    b = (1 / 6, 1 / 3, 1 / 3, 1 / 6)

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        k1 = f(t, x)
        k2 = f(t + 0.5 * h, x + 0.5 * h * k1)
        k3 = f(t + 0.5 * h, x + 0.5 * h * k2)
        k4 = f(t + h, x + h * k3)
        return x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
