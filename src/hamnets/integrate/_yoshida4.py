"""Yoshida's fourth-order symplectic composition of leapfrog."""

from __future__ import annotations

import torch

from ._base import SeparableSolver
from ._leapfrog import leapfrog_step

_CBRT2 = 2.0 ** (1.0 / 3.0)
_W1 = 1.0 / (2.0 - _CBRT2)
_W0 = -_CBRT2 / (2.0 - _CBRT2)


class Yoshida4(SeparableSolver):
    """Yoshida (1990) triple jump: leapfrog steps of ``w1 h``, ``w0 h``, ``w1 h`` with
    ``w1 = 1 / (2 - 2^(1/3))`` and ``w0 = -2^(1/3) / (2 - 2^(1/3))`` (so ``2 w1 + w0 = 1``).
    Order 4, symplectic, time-reversible; needs ``H = T(p) + V(q)``."""

    order = 4
    symplectic = True

    def step(self, field, x: torch.Tensor, h: float) -> torch.Tensor:
        q, p = self.split(x)
        for w in (_W1, _W0, _W1):
            q, p = leapfrog_step(field, q, p, w * h)
        return torch.cat([q, p], dim=1)
