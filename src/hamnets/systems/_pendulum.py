"""The ideal pendulum of Greydanus et al."""

from __future__ import annotations

import torch

from ._base import HamiltonianSystem


class Pendulum(HamiltonianSystem):
    """Ideal pendulum, ``H(q, p) = 3 (1 - cos q) + p^2`` (the paper's ``2 m g l = 3``).

    Field ``dq/dt = 2p``, ``dp/dt = -3 sin q``. No elementary closed form; references are
    computed with a tight-tolerance adaptive solver in float64.
    """

    name = "pendulum"

    def __init__(self) -> None:
        super().__init__(1)

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        return (p**2).sum(-1)

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        return (3 * (1 - torch.cos(q))).sum(-1)

    def dh_dp(self, p: torch.Tensor) -> torch.Tensor:
        return 2 * p

    def dh_dq(self, q: torch.Tensor) -> torch.Tensor:
        return 3 * torch.sin(q)
