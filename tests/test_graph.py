"""Graph-structured H2-DNN: topologies, equality with H2, locality, symplecticity, gradients."""

from __future__ import annotations

import json

import pytest
import torch

from hamnets.hdnn import H2, Graph, GraphH2, build_graph_h2, parse_graph


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# -- graphs -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "n_nodes", "n_edges"),
    [("ring:8", 8, 8), ("ring:3", 3, 3), ("line:5", 5, 4), ("line:1", 1, 0),
     ("grid:2x3", 6, 7), ("grid:1x4", 4, 3), ("full:5", 5, 10)],
)  # fmt: skip
def test_graph_sizes(spec: str, n_nodes: int, n_edges: int) -> None:
    g = parse_graph(spec)
    assert (g.n_nodes, len(g.edges), g.spec) == (n_nodes, n_edges, spec)
    a = g.adjacency()
    assert torch.equal(a, a.t()) and bool(a.diagonal().all())
    assert int(a.sum()) == n_nodes + 2 * n_edges


def test_ring8_matches_reference_pattern() -> None:
    # The reference's 8-node mask: node i talks to i - 1, i, i + 1 (mod 8), 3 non-zeros per row.
    i = torch.arange(8)
    diff = (i[:, None] - i[None, :]) % 8
    expected = (diff == 0) | (diff == 1) | (diff == 7)
    g = parse_graph("ring:8")
    assert torch.equal(g.adjacency(), expected)
    assert g.neighbours(0) == (1, 7) and g.closed_neighbours(4) == (3, 4, 5)
    assert GraphH2(g, 4, 2.0, generator=_gen()).nnz == 24


def test_grid_and_distances() -> None:
    g = parse_graph("grid:2x3")  # 0 1 2 / 3 4 5
    assert g.neighbours(4) == (1, 3, 5)
    d = g.distances()
    assert d[0, 5].item() == 3 and d[2, 3].item() == 3 and torch.equal(d, d.t())
    assert parse_graph("ring:8").distances()[0].tolist() == [0, 1, 2, 3, 4, 3, 2, 1]


def test_edge_list_file_and_round_trip(tmp_path) -> None:
    f = tmp_path / "edges.txt"
    f.write_text("# a star and a pendant\n0 1\n2 0  # reversed\n0, 3\n1 0\nnodes 6\n")
    g = parse_graph(f"file:{f}")
    assert g.n_nodes == 6 and g.edges == ((0, 1), (0, 2), (0, 3))
    back = Graph.from_dict(json.loads(json.dumps(g.to_dict())))
    assert back == g and back.spec == f"file:{f}"
    f.unlink()  # the saved edge list, not the file, restores the topology
    assert Graph.from_dict(g.to_dict()) == g


@pytest.mark.parametrize(
    ("spec", "match"),
    [("ring:2", "integer >= 3"), ("star:4", "unknown graph kind"), ("ring8", "unknown graph"),
     ("grid:3", "grid:RxC"), ("line:x", "integer >= 1"), ("full:0", "integer >= 1"),
     ("file:", "give a path")],
)  # fmt: skip
def test_bad_specs(spec: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        parse_graph(spec)


def test_bad_edges(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="no edge-list file"):
        parse_graph(f"file:{tmp_path / 'missing.txt'}")
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1\n1 two\n")
    with pytest.raises(ValueError, match=r"bad.txt:2: expected 'i j'"):
        parse_graph(f"file:{bad}")
    with pytest.raises(ValueError, match="self-loop"):
        Graph.from_edges(3, [(1, 1)])
    with pytest.raises(ValueError, match="outside 0 .. 2"):
        Graph.from_edges(3, [(0, 3)])
    with pytest.raises(ValueError, match="Graph or a spec"):
        GraphH2(8, 4, 2.0)  # type: ignore[arg-type]


# -- the model ------------------------------------------------------------------------------------
def test_full_graph_equals_h2() -> None:
    n, L, T = 4, 3, 1.5
    g = GraphH2("full:4", L, T, generator=_gen(3)).double()
    h2 = H2(2 * n, L, T, generator=_gen(3)).double()
    y = torch.randn(7, 2 * n, dtype=torch.float64, generator=_gen(9))
    assert torch.equal(g.K_p, h2.K_p) and torch.equal(g.K_q, h2.K_q)
    torch.testing.assert_close(g(y), h2(y), rtol=0, atol=1e-14)
    torch.testing.assert_close(
        g(y, return_states=True), h2(y, return_states=True), rtol=0, atol=1e-14
    )
    K1, b1 = g.structured()
    K2, b2 = h2.structured()
    assert torch.equal(K1, K2) and torch.equal(b1, b2)
    # Gradients of the same loss agree entry by entry.
    g(y).sin().sum().backward()
    h2(y).sin().sum().backward()
    for flat, dense in [(g.k_p, h2.K_p), (g.k_q, h2.K_q)]:
        torch.testing.assert_close(flat.grad, dense.grad[:, g.rows, g.cols], rtol=0, atol=1e-13)
    torch.testing.assert_close(g.b_p.grad, h2.b_p.grad, rtol=0, atol=1e-13)


def test_sparse_model_equals_masked_h2() -> None:
    # A ring model is H2 with its weights multiplied by the mask.
    g = GraphH2("ring:6", 3, 1.0, generator=_gen(1)).double()
    h2 = H2(12, 3, 1.0, generator=_gen(1)).double()
    with torch.no_grad():
        h2.K_p.mul_(g.mask)
        h2.K_q.mul_(g.mask)
    y = torch.randn(5, 12, dtype=torch.float64, generator=_gen(2))
    torch.testing.assert_close(g(y), h2(y), rtol=0, atol=1e-14)


def test_only_pattern_entries_are_parameters() -> None:
    m = GraphH2("ring:8", 4, 2.0, generator=_gen())
    shapes = {k: tuple(v.shape) for k, v in m.named_parameters()}
    assert shapes == {"k_p": (4, 24), "k_q": (4, 24), "b_p": (4, 8), "b_q": (4, 8)}
    assert {k for k, _ in m.named_buffers()} == {"J", "mask", "rows", "cols", "col_ptr",
                                                 "flat_index"}  # fmt: skip
    # Weight decay and a large step cannot create weights outside the pattern.
    opt = torch.optim.AdamW(m.parameters(), lr=0.5, weight_decay=0.9)
    for _ in range(3):
        opt.zero_grad()
        m(torch.randn(16, 16, generator=_gen(4))).pow(2).sum().backward()
        opt.step()
    off = ~m.mask
    assert bool((m.K_p[:, off] == 0).all()) and bool((m.K_q[:, off] == 0).all())
    assert bool((m.K_p[:, m.mask] != 0).all())
    # Node 5 owns column 5 of K_p: rows 4, 5, 6.
    s = m.node_slice(5)
    assert m.rows[s].tolist() == [4, 5, 6] and bool((m.cols[s] == 5).all())
    d = m.double()
    assert d.rows.dtype == torch.long and d.k_p.dtype == torch.float64


def test_state_dict_round_trip() -> None:
    a = GraphH2("grid:2x2", 2, 1.0, generator=_gen(5))
    b = GraphH2("grid:2x2", 2, 1.0, generator=_gen(6))
    b.load_state_dict(a.state_dict())
    y = torch.randn(3, 8, generator=_gen())
    assert torch.equal(a(y), b(y))


def test_matches_reference_sign_after_relabelling() -> None:
    # The reference's H2_sparse uses J = [[0, I], [-I, 0]] for y = [p; q]:
    #   q <- q - h K_p tanh(K_p^T p + b_p);  p <- p + h K_q tanh(K_q^T q + b_q).
    # It is GraphH2 after p -> -p and K_p -> -K_p.
    m = GraphH2("ring:8", 4, 2.0, generator=_gen(7)).double()
    y = torch.randn(6, 16, dtype=torch.float64, generator=_gen(8))
    p, q = y[:, :8], y[:, 8:]
    with torch.no_grad():
        K_p, K_q = m.K_p.clone(), m.K_q.clone()
        for j in range(4):
            q = q - m.h * torch.tanh(p @ K_p[j] + m.b_p[j]) @ K_p[j].t()
            p = p + m.h * torch.tanh(q @ K_q[j] + m.b_q[j]) @ K_q[j].t()
        m.k_p.neg_()
        out = m(torch.cat([-y[:, :8], y[:, 8:]], 1))
    torch.testing.assert_close(torch.cat([-out[:, :8], out[:, 8:]], 1), torch.cat([p, q], 1))


def test_layer_is_symplectic() -> None:
    m = GraphH2("grid:2x2", 1, 0.7, generator=_gen(2)).double()
    y = torch.randn(1, 8, dtype=torch.float64, generator=_gen(3))
    M = torch.autograd.functional.jacobian(lambda x: m(x)[0], y)[:, 0, :]  # (8, 8)
    torch.testing.assert_close(M.t() @ m.J.double() @ M, m.J.double(), rtol=0, atol=1e-12)


def test_gradcheck_inputs_and_parameters() -> None:
    m = GraphH2("ring:3", 2, 1.0, generator=_gen(4)).double()
    y = torch.randn(2, 6, dtype=torch.float64, generator=_gen(5), requires_grad=True)
    params = (m.k_p, m.b_p, m.k_q, m.b_q)

    def f(y, *ps):
        names = ["k_p", "b_p", "k_q", "b_q"]
        return torch.func.functional_call(m, dict(zip(names, ps, strict=True)), (y,))

    assert torch.autograd.gradcheck(f, (y, *params))


# -- locality ---------------------------------------------------------------------------------
@pytest.mark.parametrize("spec", ["line:11", "grid:3x4", "ring:10"])
def test_one_layer_dependency_radius_is_exact(spec: str) -> None:
    """After one layer: dq_i/dp_k != 0 iff d <= 2, dq_i/dq_k != 0 iff i = k,
    dp_i/dq_k != 0 iff d <= 2, dp_i/dp_k != 0 iff d <= 4 (d = hop distance, generic weights)."""
    m = GraphH2(spec, 1, 1.0, generator=_gen(11)).double()
    n = m.n_nodes
    d = m.graph.distances()
    y = torch.randn(1, 2 * n, dtype=torch.float64, generator=_gen(12))
    M = torch.autograd.functional.jacobian(lambda x: m(x)[0], y)[:, 0, :]  # (2n, 2n): d out / d in
    nz = M != 0
    eye = torch.eye(n, dtype=torch.bool)
    assert torch.equal(nz[n:, :n], (d >= 0) & (d <= 2))  # q_i <- p_k
    assert torch.equal(nz[n:, n:], eye)  # q_i <- q_k
    assert torch.equal(nz[:n, n:], (d >= 0) & (d <= 2))  # p_i <- q_k
    assert torch.equal(nz[:n, :n], (d >= 0) & (d <= 4))  # p_i <- p_k
    # The same statement as a perturbation: node k's state moves q within 2 hops, p within 4.
    k = 0
    y2 = y.clone()
    y2[0, k] += 0.3
    y2[0, n + k] -= 0.2
    with torch.no_grad():
        changed = m(y2)[0] != m(y)[0]
    assert torch.equal(changed[n:], d[k] <= 2) and torch.equal(changed[:n], d[k] <= 4)


@pytest.mark.parametrize("half", ["q-update", "p-update"])
def test_node_gradient_needs_only_neighbours(half: str) -> None:
    """In each half-step, the gradient of node i's weights (column i of K, b[i]) is a function
    of the half-step's input state and output adjoint on N(i) + i only."""
    m = GraphH2("line:7", 1, 1.0, generator=_gen(21)).double()
    with torch.no_grad():  # zeroing the other half's weights isolates one half-step
        (m.k_q if half == "q-update" else m.k_p).zero_()
        (m.b_q if half == "q-update" else m.b_p).zero_()
    k, b = (m.k_p, m.b_p) if half == "q-update" else (m.k_q, m.b_q)
    i, n = 3, 7
    cols = m.node_slice(i)

    def node_grad(y: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
        m.zero_grad()
        (m(y) * lam).sum().backward()
        return torch.cat([k.grad[:, cols], b.grad[:, i : i + 1]], 1)

    y = torch.randn(4, 2 * n, dtype=torch.float64, generator=_gen(22))
    lam = torch.randn(4, 2 * n, dtype=torch.float64, generator=_gen(23))
    ref = node_grad(y, lam)
    far = [j for j in range(n) if j not in m.graph.closed_neighbours(i)]
    cols_far = far + [n + j for j in far]
    y2, lam2 = y.clone(), lam.clone()
    y2[:, cols_far] += torch.randn(4, len(cols_far), dtype=torch.float64, generator=_gen(24))
    lam2[:, cols_far] -= 1.0
    assert torch.equal(node_grad(y2, lam2), ref)
    # ... and it does depend on a neighbour (the test is not vacuous).
    y3 = y.clone()
    y3[:, [i + 1, n + i + 1]] += 0.5
    assert not torch.allclose(node_grad(y3, lam), ref)


def test_build_graph_h2_reference_case() -> None:
    m = build_graph_h2("ring:8", 4, 2.0, generator=_gen())
    assert (m.nf, m.n_layers, m.h, m.graph.spec) == (16, 4, 0.5, "ring:8")
    with pytest.raises(ValueError, match="integer >= 3"):
        build_graph_h2("ring:2", 4, 2.0)


# -- configuration and command line ---------------------------------------------------------
def test_config_stores_and_restores_the_topology(tmp_path) -> None:
    from hamnets.training import ClassifyConfig

    f = tmp_path / "kite.txt"
    f.write_text("0 1\n1 2\n2 3\n0 2\n")
    c = ClassifyConfig(model="H2", nf=8, layers=2, t_end=1.0, graph=f"file:{f}")
    assert c.graph_edges == ((0, 1), (0, 2), (1, 2), (2, 3))
    saved = json.loads(json.dumps(c.to_dict()))
    f.unlink()  # the saved edge list is enough
    back = ClassifyConfig.from_dict(saved)
    assert back == c and back.topology() == Graph.from_edges(4, c.graph_edges, f"file:{f}")
    with pytest.raises(ValueError, match="pass --model H2"):
        ClassifyConfig(model="MS1", nf=16, graph="ring:8")
    with pytest.raises(ValueError, match="nf must be 16"):
        ClassifyConfig(model="H2", nf=4, graph="ring:8")
    with pytest.raises(ValueError, match="without graph"):
        ClassifyConfig(model="H2", nf=4, graph_edges=((0, 1),))


def test_cli_graph_uses_reference_defaults(tmp_path, monkeypatch) -> None:
    from hamnets.cli import main
    from hamnets.training.classify import _report

    results = []
    monkeypatch.setattr(_report, "write_classify_outputs", lambda r, run, **kw: results.append(r))
    out = tmp_path / "run"
    argv = ["classify", "--model", "H2", "--graph", "ring:8", "--dataset", "swiss_roll",
            "--epochs", "1", "--out", str(out), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    config = json.loads((out / "config.json").read_text())
    assert (config["nf"], config["layers"], config["t_end"]) == (16, 4, 2.0)
    assert config["input_features"] == [0, 12] and config["graph"] == "ring:8"
    assert len(config["graph_edges"]) == 8
    model = results[0].model
    assert isinstance(model, GraphH2) and model.h == 0.5 and model.k_p.shape == (4, 24)
    x = results[0].data.x_train
    others = [j for j in range(16) if j not in (0, 12)]
    assert bool((x[:, [0, 12]] != 0).any(0).all()) and bool((x[:, others] == 0).all())
    assert main(["classify", "--resume", str(out), "--quiet"]) == 0  # the config reloads


@pytest.mark.parametrize(
    ("argv", "message"),
    [(["--graph", "ring:8"], "pass --model H2"),
     (["--model", "H2", "--graph", "ring:8", "--nf", "8"], "nf must be 16"),
     (["--model", "H2", "--graph", "hex:3"], "unknown graph kind")],
)  # fmt: skip
def test_cli_graph_errors(argv, message, tmp_path, capsys) -> None:
    from hamnets.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["classify", *argv, "--out", str(tmp_path / "r"), "--quiet"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("hamnets: error:") and message in err
