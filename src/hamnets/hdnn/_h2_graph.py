"""Graph-structured H2-DNN: the distributed H-DNN of Galimberti et al. (2021), Sec. on agents."""

from __future__ import annotations

import torch
from torch import nn

from .._structure import j1
from ._base import HamiltonianDNN, LayerParams
from ._graph import Graph, parse_graph
from ._h2 import H2


class GraphH2(HamiltonianDNN):
    """H2-DNN whose weights have the sparsity of a graph of agents (with self-loops).

    Node ``i`` of the graph owns ``p_i`` (feature ``i``) and ``q_i`` (feature ``n + i``), so
    ``nf = 2 n`` and ``y = [p; q]`` as in :class:`H2`. ``K_p`` and ``K_q`` (each ``(L, n, n)``)
    are zero outside ``A + I`` (``A`` the adjacency) and ``J = J1 = [[0, -I], [I, 0]]`` couples
    each node's ``p`` to its own ``q`` only. Layer ``j`` is :class:`H2`'s symplectic-Euler step::

        q <- q + h K_p tanh(K_p^T p + b_p)
        p <- p - h K_q tanh(K_q^T q + b_q)      (with the new q)

    first order and **symplectic**. With the graph ``full:n`` the model is exactly :class:`H2`
    with ``nf = 2 n`` (the same generator gives the same weights).

    Locality (exact, ``d`` the hop distance): after one layer ``q_i`` depends on ``q_i`` and on
    ``p_k`` with ``d(i, k) <= 2``; ``p_i`` depends on ``p_k`` with ``d(i, k) <= 4`` and on
    ``q_k`` with ``d(i, k) <= 2``. Node ``i`` owns **column** ``i`` of ``K_p``, ``K_q`` (the
    weights of its own pre-activation ``a_i = sum_{k in N(i)+i} K[k, i] y_k + b_i``) and
    ``b_p[i]``, ``b_q[i]``; in each half-step the gradient of these needs only the states and
    output adjoints of ``N(i) + i``.

    The reference implementation (DecodEPFL/HamiltonianNet, ``H2_sparse``) uses the opposite
    sign of ``J`` (``q <- q - h K_p tanh(..)``, ``p <- p + h K_q tanh(..)``); that model equals
    this one after ``p -> -p`` and ``K_p -> -K_p``, a relabelling of the same family.

    Only the ``nnz`` entries inside the pattern are parameters, so an optimiser or weight decay
    cannot move a masked-out weight; the pattern is kept in index buffers.

    Parameters:
        k_p, k_q: ``(L, nnz)`` non-zero entries, ordered by owner column then row
        (``rows``/``cols`` buffers, ``col_ptr`` (n + 1,) gives node ``i``'s slice);
        b_p, b_q: ``(L, n)``. All N(0, 1) at initialisation. Buffers ``J`` (nf, nf) and
        ``mask`` (n, n).

    Args:
        graph: a :class:`Graph` or a specification such as ``"ring:8"`` (see
            :func:`parse_graph`).
        n_layers: number of layers ``L``.
        t_end: final time; ``h = t_end / L``.
        generator: optional ``torch.Generator``; the draw is that of a dense :class:`H2`
            restricted to the pattern.
    """

    symplectic = True
    splits_state = True

    def __init__(
        self,
        graph: Graph | str,
        n_layers: int,
        t_end: float,
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        if isinstance(graph, str):
            graph = parse_graph(graph)
        if not isinstance(graph, Graph):
            raise ValueError(f"GraphH2: graph must be a Graph or a spec string, got {graph!r}.")
        n = graph.n_nodes
        super().__init__(2 * n, n_layers, t_end)
        self.graph = graph
        mask = graph.adjacency(self_loops=True)  # (n, n), symmetric
        cols, rows = torch.nonzero(mask.t(), as_tuple=True)  # column-major: owner column first
        counts = torch.bincount(cols, minlength=n)
        col_ptr = torch.cat([torch.zeros(1, dtype=torch.long), torch.cumsum(counts, 0)])
        self.register_buffer("J", j1(2 * n))
        self.register_buffer("mask", mask)
        self.register_buffer("rows", rows)
        self.register_buffer("cols", cols)
        self.register_buffer("col_ptr", col_ptr)
        self.register_buffer("flat_index", rows * n + cols)
        # Same draws, in the same order, as H2(2 n, ...): K_p, K_q, b_p, b_q.
        dense_p = torch.randn(n_layers, n, n, generator=generator)
        dense_q = torch.randn(n_layers, n, n, generator=generator)
        self.k_p = nn.Parameter(dense_p[:, rows, cols].contiguous())  # (L, nnz)
        self.k_q = nn.Parameter(dense_q[:, rows, cols].contiguous())  # (L, nnz)
        self.b_p = self._randn(n_layers, n, generator=generator)
        self.b_q = self._randn(n_layers, n, generator=generator)

    @property
    def n_nodes(self) -> int:
        return self.graph.n_nodes

    @property
    def nnz(self) -> int:
        """Number of non-zero entries of one layer's ``K_p`` (``n + 2 |E|``)."""
        return int(self.rows.numel())

    def _dense(self, values: torch.Tensor) -> torch.Tensor:
        n = self.n_nodes
        flat = values.new_zeros(self.n_layers, n * n)  # (L, n*n)
        return flat.index_copy(1, self.flat_index, values).view(self.n_layers, n, n)

    @property
    def K_p(self) -> torch.Tensor:
        """Dense ``K_p`` of shape ``(L, n, n)``, zero outside the pattern."""
        return self._dense(self.k_p)

    @property
    def K_q(self) -> torch.Tensor:
        """Dense ``K_q`` of shape ``(L, n, n)``, zero outside the pattern."""
        return self._dense(self.k_q)

    def node_slice(self, i: int) -> slice:
        """Slice of ``k_p``/``k_q``'s last axis holding node ``i``'s column (rows sorted)."""
        if not 0 <= i < self.n_nodes:
            raise ValueError(f"node {i} is not in 0 .. {self.n_nodes - 1}.")
        return slice(int(self.col_ptr[i]), int(self.col_ptr[i + 1]))

    def _stacked(self) -> LayerParams:
        return (self.K_p, self.b_p, self.K_q, self.b_q)

    # The step is H2's, literally: only the weights differ (the fused one too).
    _step = H2._step
    _fused_params = H2._fused_params
    _fused_step = H2._fused_step
    _fused_backward = H2._fused_backward

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        K_p, K_q = self.K_p, self.K_q
        zero = torch.zeros_like(K_p)
        K = torch.cat([torch.cat([K_p, zero], 2), torch.cat([zero, K_q], 2)], 1)
        return K, torch.cat([self.b_p, self.b_q], 1)  # (L, nf, nf), (L, nf)

    def extra_repr(self) -> str:
        return f"graph={self.graph}, nnz={self.nnz}, {super().extra_repr()}"


def build_graph_h2(
    spec: str | Graph,
    n_layers: int,
    t_end: float,
    generator: torch.Generator | None = None,
) -> GraphH2:
    """Build a :class:`GraphH2` from a graph specification (``"ring:8"``, ``"grid:2x4"``, ...).

    The reference's distributed example is ``build_graph_h2("ring:8", 4, 2.0)`` (``nf = 16``,
    ``h = 0.5``) with the two inputs at features 0 (``p`` of node 0) and 12 (``q`` of node 4).
    """
    return GraphH2(spec, n_layers, t_end, generator=generator)
