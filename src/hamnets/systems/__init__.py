"""Ground-truth physical systems with their exact Hamiltonians."""

from ._base import HamiltonianSystem
from ._pendulum import Pendulum
from ._spring import Spring
from ._two_body import TwoBody

__all__ = ["HamiltonianSystem", "Spring", "Pendulum", "TwoBody"]
