"""One node of a graph-structured H2-DNN, run in its own process."""

from __future__ import annotations

import torch
from torch import nn

from ..hdnn._graph import Graph
from ..hdnn._h2_graph import GraphH2
from ._link import NeighbourLink


class NodeH2(nn.Module):
    """Node ``i``'s share of a :class:`~hamnets.hdnn.GraphH2`: its weights and its step.

    The node holds ``p_i`` and ``q_i`` (each ``(batch,)``) and **column** ``i`` of ``K_p`` and
    ``K_q`` (the entries ``K[k, i]`` for ``k`` in ``N(i) + i``, sorted) with ``b_p[i]``,
    ``b_q[i]``. One layer is :class:`~hamnets.hdnn.GraphH2`'s step, written as messages::

        receive p_k from each neighbour k          (exchange 1)
        s_i = tanh(sum_{k in N(i)+i} K_p[k, i] p_k + b_p[i])
        send K_p[k, i] s_i to each neighbour k,
        receive K_p[i, k] s_k from each            (exchange 2)
        q_i <- q_i + h sum_{k in N(i)+i} K_p[i, k] s_k

    and the same with ``q``, ``K_q``, ``b_q`` and ``-h`` for ``p_i`` (exchanges 3 and 4).
    The backward pass sends the adjoints of these messages back along the same edges
    (:class:`NeighbourLink`), so forward and backward need only neighbour communication.

    Parameters:
        k_p, k_q: ``(L, |N(i)| + 1)``; b_p, b_q: ``(L,)``.

    Args:
        graph: the graph (every process builds the same one).
        node: this node ``i``.
        n_layers, t_end: as for :class:`~hamnets.hdnn.GraphH2` (``h = t_end / n_layers``).
    """

    def __init__(self, graph: Graph, node: int, n_layers: int, t_end: float) -> None:
        super().__init__()
        if not 0 <= node < graph.n_nodes:
            raise ValueError(f"node must be in 0 .. {graph.n_nodes - 1}, got {node}.")
        if not isinstance(n_layers, int) or n_layers < 1 or not float(t_end) > 0:
            raise ValueError(
                f"NodeH2 needs n_layers >= 1 and t_end > 0, got {n_layers!r} and {t_end!r}."
            )
        self.graph, self.node = graph, node
        self.n_layers, self.t_end, self.h = n_layers, float(t_end), float(t_end) / n_layers
        rows = graph.closed_neighbours(node)
        self._self_pos = rows.index(node)
        self._peer_pos = [rows.index(k) for k in graph.neighbours(node)]
        self.k_p = nn.Parameter(torch.zeros(n_layers, len(rows)))
        self.k_q = nn.Parameter(torch.zeros(n_layers, len(rows)))
        self.b_p = nn.Parameter(torch.zeros(n_layers))
        self.b_q = nn.Parameter(torch.zeros(n_layers))

    @classmethod
    def from_graph_h2(cls, model: GraphH2, node: int) -> NodeH2:
        """Copy node ``node``'s weights out of a single-process model (same dtype)."""
        out = cls(model.graph, node, model.n_layers, model.t_end).to(model.k_p.dtype)
        cols = model.node_slice(node)
        with torch.no_grad():
            out.k_p.copy_(model.k_p[:, cols])
            out.k_q.copy_(model.k_q[:, cols])
            out.b_p.copy_(model.b_p[:, node])
            out.b_q.copy_(model.b_q[:, node])
        return out

    def _half_step(
        self, x: torch.Tensor, k: torch.Tensor, b: torch.Tensor, link: NeighbourLink
    ) -> torch.Tensor:
        """``sum_{k in N(i)+i} K[i, k] tanh(sum_{m in N(k)+k} K[m, k] x_m + b_k)``, (batch,)."""
        recv = link.exchange([x] * len(self._peer_pos))  # x_k of each neighbour
        a = b + k[self._self_pos] * x
        for pos, x_k in zip(self._peer_pos, recv, strict=True):
            a = a + k[pos] * x_k
        s = torch.tanh(a)  # (batch,)
        msgs = link.exchange([k[pos] * s for pos in self._peer_pos])  # K[i, k] s_k
        out = k[self._self_pos] * s
        for m in msgs:
            out = out + m
        return out

    def forward(
        self, p: torch.Tensor, q: torch.Tensor, link: NeighbourLink
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run all layers. ``p``, ``q``: this node's features, ``(batch,)`` each.

        Every process of the group must call this at the same time (it communicates).

        Returns:
            ``(p_i, q_i)`` after the last layer, ``(batch,)`` each.
        """
        if link.node != self.node:
            raise ValueError(f"NodeH2 for node {self.node} got the link of node {link.node}.")
        if p.dim() != 1 or p.shape != q.shape:
            raise ValueError(
                f"NodeH2 expects p and q of shape (batch,), got {tuple(p.shape)} and "
                f"{tuple(q.shape)}."
            )
        for j in range(self.n_layers):
            q = q + self.h * self._half_step(p, self.k_p[j], self.b_p[j], link)
            p = p - self.h * self._half_step(q, self.k_q[j], self.b_q[j], link)
        return p, q

    def extra_repr(self) -> str:
        return f"node={self.node}, graph={self.graph}, n_layers={self.n_layers}, h={self.h:g}"
