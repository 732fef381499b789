"""Names of the solvers, as the command line and saved configurations spell them: the only
place where a solver's name becomes a solver."""

from __future__ import annotations

from collections.abc import Callable

from ._base import Solver
from ._dopri5 import Dopri5
from ._euler import Euler
from ._implicit_midpoint import ImplicitMidpoint
from ._leapfrog import Leapfrog
from ._rk4 import RK4
from ._tsit5 import Tsit5
from ._yoshida4 import Yoshida4

__all__ = ["SOLVER_NAMES", "SOLVERS", "build_solver"]

#: name -> the solver's class; adaptive ones take ``rtol, atol``, fixed-step ones ``dt``.
SOLVERS: dict[str, type[Solver]] = {
    "tsit5": Tsit5,
    "dopri5": Dopri5,
    "rk4": RK4,
    "euler": Euler,
    "leapfrog": Leapfrog,
    "yoshida4": Yoshida4,
    "implicit_midpoint": ImplicitMidpoint,
}
SOLVER_NAMES = tuple(SOLVERS)


def build_solver(name: str, *, dt: float, rtol: float = 1e-6, atol: float = 1e-8) -> Solver:
    """The solver ``name`` (one of :data:`SOLVER_NAMES`): an adaptive one with tolerances
    ``rtol`` and ``atol``, a fixed-step one with step ``dt``.

    Raises:
        ValueError: an unknown name (the message lists the known ones).
    """
    if name not in SOLVERS:
        raise ValueError(f"unknown solver {name!r}; choose one of {', '.join(SOLVER_NAMES)}.")
    cls: Callable[..., Solver] = SOLVERS[name]
    if SOLVERS[name].adaptive:
        return cls(rtol=rtol, atol=atol)
    return cls(dt=dt)
