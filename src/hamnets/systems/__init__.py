"""Ground-truth physical systems with their exact Hamiltonians; port-Hamiltonian systems add
dissipation, inputs or an explicitly time-dependent H."""

from ._base import HamiltonianSystem
from ._damped_spring import DampedSpring
from ._forced_pendulum import ForcedPendulum
from ._mass_spring_damper import MassSpringDamper
from ._parametric_spring import ParametricSpring
from ._pendulum import Pendulum
from ._port import PortHamiltonianSystem
from ._registry import PORT_SYSTEM_NAMES, PORT_SYSTEMS, build_port_system
from ._spring import Spring
from ._two_body import TwoBody

__all__ = [
    "HamiltonianSystem",
    "Spring",
    "Pendulum",
    "TwoBody",
    "PortHamiltonianSystem",
    "DampedSpring",
    "ForcedPendulum",
    "MassSpringDamper",
    "ParametricSpring",
    "PORT_SYSTEMS",
    "PORT_SYSTEM_NAMES",
    "build_port_system",
]
