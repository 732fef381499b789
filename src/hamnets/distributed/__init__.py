"""Message-passing execution of graph-structured H-DNNs: one process per graph node."""

from ._launch import connect, free_port, launch
from ._link import NeighbourLink
from ._node import NodeH2

__all__ = ["NodeH2", "NeighbourLink", "connect", "free_port", "launch"]
