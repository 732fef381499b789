"""Hamiltonian deep neural networks: each layer is one step of a discretised Hamiltonian ODE."""

from ._base import HamiltonianDNN
from ._graph import GRAPH_KINDS, Graph, parse_graph
from ._h1 import H1
from ._h2 import H2
from ._h2_graph import GraphH2, build_graph_h2
from ._mlp import MLP
from ._ms1 import MS1
from ._ms2 import MS2
from ._ms3 import MS3
from ._ph1 import DissipativeH1
from ._readout import Readout
from ._registry import BASELINE_NAMES, DISSIPATIVE_NAMES, MODEL_NAMES, build_hdnn

__all__ = [
    "HamiltonianDNN",
    "H1",
    "H2",
    "MS1",
    "MS2",
    "MS3",
    "DissipativeH1",
    "MLP",
    "Readout",
    "MODEL_NAMES",
    "BASELINE_NAMES",
    "DISSIPATIVE_NAMES",
    "build_hdnn",
    "Graph",
    "GRAPH_KINDS",
    "parse_graph",
    "GraphH2",
    "build_graph_h2",
]
