"""Message passing: one process per node reproduces the single-process GraphH2 exactly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hamnets.distributed import NeighbourLink, NodeH2, connect, launch
from hamnets.hdnn import Graph, GraphH2

N_LAYERS, T_END, BATCH = 3, 1.2, 5
# 4 nodes with degrees 2, 2, 3, 1; nodes 0-3 and 1-3 are not neighbours.
GRAPH = Graph.from_edges(4, [(0, 1), (1, 2), (2, 3), (0, 2)], spec="test-kite")


def _worker(rank: int, port: int, graph_dict: dict, in_dir: str, out_dir: str) -> None:
    torch.set_num_threads(1)
    graph = Graph.from_dict(graph_dict)
    share = torch.load(Path(in_dir) / f"node{rank}.pt")  # this node's weights and data only
    group = connect(rank, graph.n_nodes, port, timeout_s=30)
    link = NeighbourLink(group, graph, rank)
    node = NodeH2(graph, rank, N_LAYERS, T_END).double()
    node.load_state_dict(share["weights"])
    p = share["p"].requires_grad_()
    q = share["q"].requires_grad_()
    p_out, q_out = node(p, q, link)
    loss = (share["lam_p"] * p_out).sum() + (share["lam_q"] * torch.sin(q_out)).sum()
    loss.backward()  # sends adjoints back along the edges
    grads = {name: t.grad for name, t in node.named_parameters()}
    result = {
        "p": p_out.detach(),
        "q": q_out.detach(),
        "dp": p.grad,
        "dq": q.grad,
        "grads": grads,
        "contacted": sorted(link.contacted),
        "n_sent": link.n_sent,
    }
    torch.save(result, Path(out_dir) / f"node{rank}.pt")
    group.barrier().wait()  # nobody leaves while a neighbour may still read its socket


def test_four_processes_match_single_process_model(tmp_path: Path) -> None:
    n = GRAPH.n_nodes
    gen = torch.Generator().manual_seed(0)
    model = GraphH2(GRAPH, N_LAYERS, T_END, generator=gen).double()
    y = torch.randn(BATCH, 2 * n, dtype=torch.float64, generator=gen, requires_grad=True)
    lam_p = torch.randn(BATCH, n, dtype=torch.float64, generator=gen)
    lam_q = torch.randn(BATCH, n, dtype=torch.float64, generator=gen)
    out = model(y)
    ((lam_p * out[:, :n]).sum() + (lam_q * torch.sin(out[:, n:])).sum()).backward()

    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    for i in range(n):
        node = NodeH2.from_graph_h2(model, i)
        assert node.k_p.shape == (N_LAYERS, len(GRAPH.neighbours(i)) + 1)
        share = {
            "weights": node.state_dict(),
            "p": y[:, i].detach().clone(),
            "q": y[:, n + i].detach().clone(),
            "lam_p": lam_p[:, i].clone(),
            "lam_q": lam_q[:, i].clone(),
        }
        torch.save(share, in_dir / f"node{i}.pt")

    launch(_worker, n, args=(GRAPH.to_dict(), str(in_dir), str(out_dir)), timeout_s=90)

    for i in range(n):
        r = torch.load(out_dir / f"node{i}.pt")
        cols = model.node_slice(i)
        close = {"rtol": 0, "atol": 1e-6}
        torch.testing.assert_close(r["p"], out[:, i].detach(), **close)
        torch.testing.assert_close(r["q"], out[:, n + i].detach(), **close)
        torch.testing.assert_close(r["dp"], y.grad[:, i], **close)
        torch.testing.assert_close(r["dq"], y.grad[:, n + i], **close)
        torch.testing.assert_close(r["grads"]["k_p"], model.k_p.grad[:, cols], **close)
        torch.testing.assert_close(r["grads"]["k_q"], model.k_q.grad[:, cols], **close)
        torch.testing.assert_close(r["grads"]["b_p"], model.b_p.grad[:, i], **close)
        torch.testing.assert_close(r["grads"]["b_q"], model.b_q.grad[:, i], **close)
        # Only neighbours were contacted: 4 exchanges per layer forward, 4 backward.
        assert r["contacted"] == list(GRAPH.neighbours(i))
        assert r["n_sent"] == 8 * N_LAYERS * len(GRAPH.neighbours(i))


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
    from hamnets.distributed import free_port

    group = connect(0, 1, free_port(), timeout_s=10)
    assert group.size() == 1 and group.rank() == 0
