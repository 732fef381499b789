"""Names of the port-Hamiltonian systems, as configurations spell them: the only place where
such a name becomes a system."""

from __future__ import annotations

from ._damped_spring import DampedSpring
from ._forced_pendulum import ForcedPendulum
from ._mass_spring_damper import MassSpringDamper
from ._parametric_spring import ParametricSpring
from ._port import PortHamiltonianSystem

__all__ = ["PORT_SYSTEMS", "PORT_SYSTEM_NAMES", "build_port_system"]

PORT_SYSTEMS: dict[str, type[PortHamiltonianSystem]] = {
    cls.name: cls for cls in (DampedSpring, ForcedPendulum, MassSpringDamper, ParametricSpring)
}
PORT_SYSTEM_NAMES = tuple(PORT_SYSTEMS)


def build_port_system(name: str) -> PortHamiltonianSystem:
    """The port system ``name`` (one of :data:`PORT_SYSTEM_NAMES`), without a bound input."""
    if name not in PORT_SYSTEMS:
        raise ValueError(
            f"unknown port system {name!r}; choose one of {', '.join(PORT_SYSTEM_NAMES)}."
        )
    return PORT_SYSTEMS[name]()
