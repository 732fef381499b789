"""Two masses in a chain, fixed to a wall, with friction and a force on the first mass."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._port import PortHamiltonianSystem


class MassSpringDamper(PortHamiltonianSystem):
    """Wall - spring - mass 1 - spring - mass 2 (free end): unit masses, unit springs,
    damping 0.1 on each mass, one input force on mass 1. State ``x = (q1, q2, p1, p2)``
    ``(batch, 4)``, ``q_i`` the displacements from rest.

    ``H = (p1^2 + p2^2) / 2 + q1^2 / 2 + (q2 - q1)^2 / 2``, ``R = diag(0, 0, 0.1, 0.1)``,
    ``G = [0, 0, 1, 0]^T``. Field ``dq = p``, ``dp1/dt = -(2 q1 - q2) - 0.1 p1 + u``,
    ``dp2/dt = -(q2 - q1) - 0.1 p2``; ``y = p1`` (the first mass's velocity); energy balance
    ``dH/dt = -0.1 (p1^2 + p2^2) + p1 u``.

    Args:
        signal: the input force ``u(t) -> (batch, 1)``; or bind one with :meth:`with_input`.
    """

    name = "mass_spring_damper"

    def __init__(self, signal: Callable | None = None) -> None:
        super().__init__(2, [0.1, 0.1], [[0.0], [0.0], [1.0], [0.0]], signal)

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``H``: ``(batch, 4)`` -> ``(batch,)``."""
        q1, q2, p = x[:, 0], x[:, 1], x[:, 2:]
        return 0.5 * (p**2).sum(-1) + 0.5 * q1**2 + 0.5 * (q2 - q1) ** 2

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(2 q1 - q2, q2 - q1, p1, p2)`` ``(batch, 4)``."""
        self._check_state(x)
        q1, q2 = x[:, 0], x[:, 1]
        return torch.cat([torch.stack([2 * q1 - q2, q2 - q1], dim=1), x[:, 2:]], dim=1)
