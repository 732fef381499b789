"""Hamiltonian neural networks: a learned scalar H and its field J grad H."""

from .._field import (
    HamiltonianField,
    SeparableField,
    TimeDependentHamiltonianField,
    TimeDependentSeparableField,
)
from ._baseline import MLPField
from ._hamiltonian import HamiltonianNN, TimeDependentHamiltonianNN
from ._mlp import MLP, EnergyMLP, orthogonal_init, xavier_init
from ._registry import HNN_MODEL_NAMES, SYMMETRY_NAMES, build_hnn
from ._separable import SeparableHamiltonianNN, TimeDependentSeparableHamiltonianNN
from ._symmetric import SymmetricEnergy

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
    "orthogonal_init",
    "xavier_init",
    "HNN_MODEL_NAMES",
    "SYMMETRY_NAMES",
    "build_hnn",
]
