"""The Dormand-Prince 5(4) pair."""

from __future__ import annotations

from ._embedded_rk import EmbeddedRK
from ._interpolation import _dopri5_table

_B = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B_HAT = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)


class Dopri5(EmbeddedRK):
    """Dormand-Prince (1980) explicit Runge-Kutta 5(4), 7 stages with FSAL.

    Order 5 (the solution is the fifth-order weights, the fourth-order ones estimate the
    error), not symplectic, adaptive; dense output by Dormand-Prince's (Shampine's) continuous
    extension of order 4 (see :class:`EmbeddedRK` for the control and arguments).
    """

    order = 5
    c = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
    a = (
        (),
        (1 / 5,),
        (3 / 40, 9 / 40),
        (44 / 45, -56 / 15, 32 / 9),
        (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
        (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
        _B[:6],
    )
    b = _B
    e = tuple(b1 - b2 for b1, b2 in zip(_B, _B_HAT, strict=True))
    dense = _dopri5_table(_B)
