"""Two bodies under Newtonian gravity in the plane."""

from __future__ import annotations

import torch

from ._base import HamiltonianSystem


class TwoBody(HamiltonianSystem):
    """Planar two-body problem with ``G = m1 = m2 = 1``; 8-dimensional state ``x = [q, p]``.

    ``q = (x1, y1, x2, y2)`` are the positions of the two bodies, ``p = (px1, py1, px2, py2)``
    their momenta (equal to velocities since ``m = 1``), and
    ``H(q, p) = (|p1|^2 + |p2|^2) / 2 - 1 / |r1 - r2|``.
    """

    name = "two_body"

    def __init__(self) -> None:
        super().__init__(4)

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        return 0.5 * (p**2).sum(-1)

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        r = q[:, 0:2] - q[:, 2:4]  # (batch, 2)
        return -1.0 / r.norm(dim=-1)

    def dh_dp(self, p: torch.Tensor) -> torch.Tensor:
        return p

    def dh_dq(self, q: torch.Tensor) -> torch.Tensor:
        r = q[:, 0:2] - q[:, 2:4]  # (batch, 2)
        g = r / r.norm(dim=-1, keepdim=True) ** 3  # dV/dr1
        return torch.cat([g, -g], dim=-1)  # (batch, 4)
