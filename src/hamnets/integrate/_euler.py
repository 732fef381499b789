"""Explicit (forward) Euler."""

from __future__ import annotations

import torch

from ._base import Field, FixedStepSolver


class Euler(FixedStepSolver):
    """Forward Euler, ``x_{k+1} = x_k + h f(x_k)``. Order 1, not symplectic."""

    order = 1
    symplectic = False

    def step(self, field: Field, x: torch.Tensor, h: float) -> torch.Tensor:
        return x + h * field(x)
