"""Point-to-point exchange with a node's graph neighbours, differentiable both ways."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..hdnn._graph import Graph


class NeighbourLink:
    """The only channel a node's process has: send/recv with its graph neighbours.

    Process ``rank`` runs node ``rank``. :meth:`exchange` sends one tensor to each neighbour
    and receives one from each (``isend``/``irecv`` of the gloo backend, no collective); it is
    an autograd operation whose backward sends the gradients of the received tensors back to
    their senders and receives the gradients of the tensors it sent. Every process must call
    :meth:`exchange` (and ``backward``) the same number of times in the same order, which the
    layer loop of :class:`~hamnets.distributed.NodeH2` guarantees; each call carries a sequence
    tag (forward ``2 s``, backward ``2 s + 1``, ``s >= 1``), so a protocol mismatch times out
    instead of mixing messages. Call :meth:`close` before the process exits.

    Args:
        group: a ``torch.distributed.ProcessGroupGloo`` (see :func:`connect`).
        graph: the graph; ``group.size()`` must equal ``graph.n_nodes``.
        node: this process's node (its rank).

    Attributes:
        peers: sorted neighbours of ``node`` (the only ranks ever contacted).
        contacted: ranks actually sent to or received from so far (for checks).
        n_sent: number of tensors sent so far (forward and backward).
    """

    def __init__(self, group: Any, graph: Graph, node: int) -> None:
        if group.size() != graph.n_nodes or group.rank() != node:
            raise ValueError(
                f"one process per node: the group has size {group.size()} and rank "
                f"{group.rank()}, the graph has {graph.n_nodes} nodes and this is node {node}."
            )
        self.group = group
        self.node = node
        self.peers: tuple[int, ...] = graph.neighbours(node)
        self.contacted: set[int] = set()
        self.n_sent = 0
        self._seq = 0

    def _swap(self, outgoing: Sequence[torch.Tensor], tag: int) -> tuple[torch.Tensor, ...]:
        """Send ``outgoing[j]`` to ``peers[j]``, receive a tensor of the same shape from it."""
        if len(outgoing) != len(self.peers):
            raise ValueError(
                f"node {self.node} has {len(self.peers)} neighbours {self.peers}, "
                f"got {len(outgoing)} tensors to send."
            )
        sends = [t.detach().contiguous() for t in outgoing]
        recvs = [torch.empty_like(t) for t in sends]
        works = []
        for peer, s, r in zip(self.peers, sends, recvs, strict=True):
            works.append(self.group.send([s], peer, tag))
            works.append(self.group.recv([r], peer, tag))
        for w in works:
            w.wait()
        self.contacted.update(self.peers)
        self.n_sent += len(sends)
        return tuple(recvs)

    def close(self) -> None:
        """Handshake with every neighbour before leaving (not counted in :attr:`n_sent`).

        Messages between two nodes arrive in order, so once a neighbour's handshake arrives it
        has received everything this node sent; no process exits under a reading neighbour.
        """
        works = []
        for peer in self.peers:
            works.append(self.group.send([torch.zeros(1)], peer, 1))
            works.append(self.group.recv([torch.empty(1)], peer, 1))
        for w in works:
            w.wait()

    def exchange(self, outgoing: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        """Differentiable swap: returns the tensors received from ``peers`` (same order).

        Args:
            outgoing: one tensor per neighbour, in the order of :attr:`peers`; the neighbour
                sends back a tensor of the same shape and dtype.
        """
        if not self.peers:
            return ()
        self._seq += 1
        return _Exchange.apply(self, self._seq, *outgoing)


class _Exchange(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, link: NeighbourLink, seq: int, *outgoing: torch.Tensor) -> Any:
        ctx.link, ctx.seq = link, seq
        return link._swap(outgoing, tag=2 * seq)

    @staticmethod
    def backward(ctx: Any, *grad_received: torch.Tensor) -> Any:
        # What a neighbour received from me, its gradient comes back to me, and vice versa.
        grad_sent = ctx.link._swap(grad_received, tag=2 * ctx.seq + 1)
        return (None, None, *grad_sent)
