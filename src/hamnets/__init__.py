"""hamnets: Hamiltonian deep neural networks and Hamiltonian neural networks in PyTorch."""

from . import hdnn
from ._structure import canonical_j, j1, j2

__version__ = "0.1.0"

__all__ = ["__version__", "hdnn", "canonical_j", "j1", "j2"]
