"""hamnets: Hamiltonian deep neural networks and Hamiltonian neural networks in PyTorch.

Subpackages and names are imported on first use, so that the command line's ``--help``
starts without importing torch.
"""

from ._lazy import lazy_exports

__version__ = "0.1.0"

_EXPORTS = {
    "hdnn": "",
    "hnn": "",
    "controls": "",
    "integrate": "",
    "systems": "",
    "canonical_j": "._structure",
    "j1": "._structure",
    "j2": "._structure",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = ["__version__", *_EXPORTS]
