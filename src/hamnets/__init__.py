"""hamnets: Hamiltonian deep neural networks and Hamiltonian neural networks in PyTorch."""

from . import hdnn, hnn, integrate, systems
from ._structure import canonical_j, j1, j2

__version__ = "0.1.0"

__all__ = ["__version__", "hdnn", "hnn", "integrate", "systems", "canonical_j", "j1", "j2"]
