"""ODE integrators: adaptive Runge-Kutta, fixed-step and symplectic, behind one ``odeint``."""

from ._adjoint import SymplecticAdjoint
from ._base import FixedStepSolver, SeparableSolver, Solver
from ._checkpoint import Checkpointed
from ._dopri5 import Dopri5
from ._embedded_rk import EmbeddedRK
from ._euler import Euler
from ._gradient import Gradient
from ._implicit_midpoint import ImplicitMidpoint
from ._leapfrog import Leapfrog
from ._odeint import odeint
from ._registry import SOLVER_NAMES, SOLVERS, build_solver
from ._rk4 import RK4
from ._symplectic_euler import SymplecticEuler
from ._tsit5 import Tsit5
from ._yoshida4 import Yoshida4

__all__ = [
    "odeint",
    "Solver",
    "FixedStepSolver",
    "SeparableSolver",
    "EmbeddedRK",
    "Tsit5",
    "Dopri5",
    "Euler",
    "RK4",
    "SymplecticEuler",
    "Leapfrog",
    "Yoshida4",
    "ImplicitMidpoint",
    "SOLVER_NAMES",
    "SOLVERS",
    "build_solver",
    "Gradient",
    "Checkpointed",
    "SymplecticAdjoint",
]
