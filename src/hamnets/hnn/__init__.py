"""Hamiltonian neural networks: a learned scalar H and its field J grad H; port-Hamiltonian
networks add a learned dissipation R = L L^T and input ports G u."""

from .._field import (
    HamiltonianField,
    SeparableField,
    TimeDependentHamiltonianField,
    TimeDependentSeparableField,
)
from .._port_field import PortFieldWithInput, PortHamiltonianField, PortParts
from ._baseline import MLPField
from ._dissipation import (
    ConstantDissipation,
    FixedDissipation,
    MomentumDamping,
    NetworkDissipation,
)
from ._hamiltonian import HamiltonianNN, TimeDependentHamiltonianNN
from ._input_map import (
    ConstantInputMatrix,
    FixedInputMatrix,
    MomentumInput,
    NetworkInputMatrix,
)
from ._mlp import MLP, EnergyMLP, orthogonal_init, xavier_init
from ._periodic import PeriodicEnergy, TimePeriodicEnergy
from ._port import PortHamiltonianNN
from ._port_baseline import InputMLPField
from ._port_registry import (
    DISSIPATION_NAMES,
    INPUT_MATRIX_NAMES,
    PORT_MODEL_NAMES,
    build_port_model,
)
from ._registry import ACTIVATION_NAMES, ACTIVATIONS, HNN_MODEL_NAMES, SYMMETRY_NAMES, build_hnn
from ._separable import SeparableHamiltonianNN, TimeDependentSeparableHamiltonianNN
from ._separable_energy import QuadraticEnergy, SeparableEnergy, TimeSeparableEnergy
from ._symmetric import SymmetricEnergy
from ._time_energy import TimeEnergyMLP

__all__ = [
    "HamiltonianField",
    "SeparableField",
    "TimeDependentHamiltonianField",
    "TimeDependentSeparableField",
    "TimeDependentHamiltonianNN",
    "TimeDependentSeparableHamiltonianNN",
    "HamiltonianNN",
    "SeparableHamiltonianNN",
    "MLPField",
    "MLP",
    "EnergyMLP",
    "SymmetricEnergy",
    "PeriodicEnergy",
    "TimePeriodicEnergy",
    "SeparableEnergy",
    "TimeSeparableEnergy",
    "QuadraticEnergy",
    "TimeEnergyMLP",
    "orthogonal_init",
    "xavier_init",
    "HNN_MODEL_NAMES",
    "SYMMETRY_NAMES",
    "ACTIVATIONS",
    "ACTIVATION_NAMES",
    "build_hnn",
    "PortHamiltonianField",
    "PortFieldWithInput",
    "PortParts",
    "PortHamiltonianNN",
    "InputMLPField",
    "NetworkDissipation",
    "ConstantDissipation",
    "MomentumDamping",
    "FixedDissipation",
    "ConstantInputMatrix",
    "MomentumInput",
    "NetworkInputMatrix",
    "FixedInputMatrix",
    "PORT_MODEL_NAMES",
    "DISSIPATION_NAMES",
    "INPUT_MATRIX_NAMES",
    "build_port_model",
]
