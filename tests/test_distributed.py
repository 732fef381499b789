"""Message passing: one process per node reproduces the single-process GraphH2 exactly."""

from __future__ import annotations

import pytest
import torch

from hamnets.distributed import NeighbourLink, NodeH2, connect, free_port, run_graph_h2
from hamnets.hdnn import Graph, GraphH2

N_LAYERS, T_END, BATCH = 3, 1.2, 5
# 4 nodes with degrees 2, 2, 3, 1; nodes 0-3 and 1-3 are not neighbours.
GRAPH = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3), (0, 2)], spec="test-kite")


@pytest.mark.slow  # multi-process; make test-all (keeps make test near 2 min)
def test_four_processes_match_single_process_model() -> None:
    n = GRAPH.n_nodes
    gen = torch.Generator().manual_seed(0)
    model = GraphH2(GRAPH, N_LAYERS, T_END, generator=gen).double()
    y = torch.randn(BATCH, 2 * n, dtype=torch.float64, generator=gen, requires_grad=True)
    w = torch.randn(BATCH, 2 * n, dtype=torch.float64, generator=gen)
    out = model(y)
    loss = (w * torch.sin(out)).sum()  # any loss: the nodes get its cotangent dL/dy_L
    (cotangent,) = torch.autograd.grad(loss, out, retain_graph=True)
    loss.backward()

    r = run_graph_h2(model, y, cotangent, timeout_s=90)

    close = {"rtol": 0, "atol": 1e-6}
    torch.testing.assert_close(r.output, out.detach(), **close)
    torch.testing.assert_close(r.input_grad, y.grad, **close)
    for name in ("k_p", "k_q", "b_p", "b_q"):
        torch.testing.assert_close(r.grads[name], getattr(model, name).grad, **close)
    # Only neighbours were contacted: 4 exchanges per layer forward, 4 backward.
    for i in range(n):
        assert r.contacted[i] == GRAPH.neighbours(i)
        assert r.sent[i] == 8 * N_LAYERS * len(GRAPH.neighbours(i))
    # Each process held only its node's column of weights.
    assert [NodeH2.from_graph_h2(model, i).k_p.shape[1] for i in range(n)] == [3, 3, 4, 2]


class _FakeGroup:
    def __init__(self, rank: int, size: int) -> None:
        self._rank, self._size = rank, size

    def rank(self) -> int:
        return self._rank

    def size(self) -> int:
        return self._size


def test_link_and_node_refuse_mismatches() -> None:
    with pytest.raises(ValueError, match="one process per node"):
        NeighbourLink(_FakeGroup(0, 3), GRAPH, 0)
    link = NeighbourLink(_FakeGroup(2, 4), GRAPH, 2)
    assert link.peers == (0, 1, 3)
    with pytest.raises(ValueError, match="3 neighbours"):
        link.exchange([torch.zeros(2)])
    with pytest.raises(ValueError, match="node must be in 0 .. 3"):
        NodeH2(GRAPH, 4, 2, 1.0)
    node = NodeH2(GRAPH, 1, 2, 1.0)
    with pytest.raises(ValueError, match="link of node 2"):
        node(torch.zeros(3), torch.zeros(3), link)
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        NodeH2(GRAPH, 2, 2, 1.0)(torch.zeros(3, 1), torch.zeros(3, 1), link)


def test_connect_uses_loopback_only() -> None:
    # One process is a whole group: the store and gloo's device live on 127.0.0.1.
    group = connect(0, 1, free_port(), timeout_s=10)
    assert group.size() == 1 and group.rank() == 0


def test_run_graph_h2_refuses_bad_shapes() -> None:
    model = GraphH2(GRAPH, 1, 1.0, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"shape \(batch, 8\)"):
        run_graph_h2(model, torch.zeros(3, 6))
    with pytest.raises(ValueError, match="cotangent must have the shape"):
        run_graph_h2(model, torch.zeros(3, 8), torch.zeros(3, 7))


def _takes_port(rank: int, port: int, out: str) -> None:
    """Rank 0 binds ``port`` as a store would; the first attempt finds it taken."""
    import socket
    from pathlib import Path

    marker = Path(out) / "attempts"
    marker.write_text(marker.read_text() + "x" if marker.exists() else "x")
    if len(marker.read_text()) == 1:
        raise RuntimeError("The server socket has failed to listen: Address already in use")
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


@pytest.mark.slow  # multi-process; make test-all (keeps make test near 2 min)
def test_launch_retries_on_a_port_taken_before_the_store_binds_it(tmp_path) -> None:
    from hamnets.distributed import launch

    launch(_takes_port, 1, args=(str(tmp_path),), timeout_s=60)
    assert (tmp_path / "attempts").read_text() == "xx"
