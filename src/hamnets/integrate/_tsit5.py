"""Tsitouras' 5(4) pair."""

from __future__ import annotations

from ._embedded_rk import EmbeddedRK
from ._interpolation import TSIT5_DENSE

_B = (
    0.09646076681806523,
    0.01,
    0.4798896504144996,
    1.379008574103742,
    -3.290069515436081,
    2.324710524099774,
    0.0,
)


class Tsit5(EmbeddedRK):
    """Tsitouras (2011) explicit Runge-Kutta 5(4), 7 stages with FSAL.

    Order 5, not symplectic, adaptive (see :class:`EmbeddedRK` for the control and
    arguments). Its coefficients are tuned for a smaller principal error than Dopri5 at the
    same cost. Dense output: Tsitouras' own continuous extension of order 4.
    """

    order = 5
    c = (0.0, 0.161, 0.327, 0.9, 0.9800255409045097, 1.0, 1.0)
    a = (
        (),
        (0.161,),
        (-0.008480655492356989, 0.335480655492357),
        (2.897153057105493, -6.359448489975075, 4.3622954328695815),
        (5.325864828439257, -11.748883564062828, 7.4955393428898365, -0.09249506636175525),
        (
            5.86145544294642,
            -12.92096931784711,
            8.159367898576159,
            -0.071584973281401,
            -0.028269050394068383,
        ),
        _B[:6],
    )
    b = _B
    # b - b_hat: the solution minus the embedded fourth-order solution
    e = (
        0.001780011052226,
        0.000816434459657,
        -0.007880878010262,
        0.144711007173263,
        -0.582357165452555,
        0.458082105929187,
        -1 / 66,
    )
    dense = TSIT5_DENSE
