"""Yoshida's fourth-order symplectic composition of leapfrog."""

from __future__ import annotations

import torch

from ._base import SeparableSolver, TimedField
from ._leapfrog import leapfrog_step

_CBRT2 = 2.0 ** (1.0 / 3.0)
_W1 = 1.0 / (2.0 - _CBRT2)
_W0 = -_CBRT2 / (2.0 - _CBRT2)


class Yoshida4(SeparableSolver):
    """Yoshida (1990) triple jump: leapfrog steps of ``w1 h``, ``w0 h``, ``w1 h`` with
    ``w1 = 1 / (2 - 2^(1/3))`` and ``w0 = -2^(1/3) / (2 - 2^(1/3))`` (so ``2 w1 + w0 = 1``).
    Order 4, symplectic, time-reversible; needs ``H = T(p) + V(q)`` (or ``T(t, p) + V(t, q)``).
    Each inner leapfrog ends with a kick at the position the next one starts from, so the
    force is evaluated 3 times per step (not 6), and ``T'`` 3 times."""

    order = 4
    symplectic = True

    def _advance(self, f, t, x, h, carry):
        q, p = self.split(x)
        for w in (_W1, _W0, _W1):
            q, p, carry = leapfrog_step(f, t, q, p, w * h, carry)
            t = t + w * h
        return torch.cat([q, p], dim=1), carry

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        return self._advance(f, t, x, h, None)[0]
