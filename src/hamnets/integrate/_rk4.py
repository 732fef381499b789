"""The classical fourth-order Runge-Kutta method."""

from __future__ import annotations

import torch

from ._base import Field, FixedStepSolver


class RK4(FixedStepSolver):
    """Classical Runge-Kutta: ``k1 = f(x)``, ``k2 = f(x + h k1 / 2)``, ``k3 = f(x + h k2 / 2)``,
    ``k4 = f(x + h k3)``, ``x_{k+1} = x + h (k1 + 2 k2 + 2 k3 + k4) / 6``.
    Order 4, not symplectic (its energy error grows linearly with time)."""

    order = 4
    symplectic = False

    def step(self, field: Field, x: torch.Tensor, h: float) -> torch.Tensor:
        k1 = field(x)
        k2 = field(x + 0.5 * h * k1)
        k3 = field(x + 0.5 * h * k2)
        k4 = field(x + h * k3)
        return x + (h / 6.0) * (k1 + 2 * k2 + 2 * k3 + k4)
