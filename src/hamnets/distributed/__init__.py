"""Message-passing execution of graph-structured H-DNNs: one process per graph node."""

from ._launch import connect, free_port, launch
from ._link import NeighbourLink
from ._node import NodeH2
from ._run import DistributedResult, run_graph_h2

__all__ = [
    "DistributedResult",
    "NeighbourLink",
    "NodeH2",
    "connect",
    "free_port",
    "launch",
    "run_graph_h2",
]
