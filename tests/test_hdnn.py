"""H-DNN models: one step against hand-written numpy, gradients, symplecticity, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import ALL_HDNN, make_model

from hamnets import canonical_j, j1, j2
from hamnets.hdnn import H1, H2, MS1, MS2, MS3, DissipativeH1, Readout, build_hdnn


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def numpy_step(model, y: np.ndarray, j: int) -> np.ndarray:
    """One layer of each model, written out in column-vector notation (states as columns)."""
    h, n = model.h, model.nf // 2
    y = y.T.copy()  # (nf, batch)
    if isinstance(model, DissipativeH1):  # (before H1: it is one)
        K, b, J, L = _np(model.K[j]), _np(model.b[j])[:, None], _np(model.J), _np(model.L[j])
        return (y + h * (J - L @ L.T) @ K @ np.tanh(K.T @ y + b)).T
    if isinstance(model, H1):
        K, b, J = _np(model.K[j]), _np(model.b[j])[:, None], _np(model.J)
        return (y + h * J @ K @ np.tanh(K.T @ y + b)).T
    if isinstance(model, H2):
        Kp, Kq = _np(model.K_p[j]), _np(model.K_q[j])
        bp, bq = _np(model.b_p[j])[:, None], _np(model.b_q[j])[:, None]
        p, q = y[:n], y[n:]
        q = q + h * Kp @ np.tanh(Kp.T @ p + bp)
        p = p - h * Kq @ np.tanh(Kq.T @ q + bq)
        return np.vstack([p, q]).T
    if isinstance(model, MS1):
        K, b = _np(model.K[j]), _np(model.b[j])[:, None]
        u, z = y[:n], y[n:]
        z = z + h * np.tanh(K @ u + b[n:])
        u = u + h * np.tanh(-K.T @ z + b[:n])
        return np.vstack([u, z]).T
    if isinstance(model, MS2):
        W, b = _np(model.W[j]), _np(model.b[j])[:, None]
        A = W - W.T
        return (y + h * np.tanh(A @ y + b)).T
    if isinstance(model, MS3):
        K1, K2 = _np(model.K1[j]), _np(model.K2[j])
        b1, b2 = _np(model.b1[j])[:, None], _np(model.b2[j])[:, None]
        u, z = y[:n], y[n:]
        z = z - h * K1 @ np.tanh(K1.T @ u + b2)
        u = u + h * K2 @ np.tanh(K2.T @ z + b1)
        return np.vstack([u, z]).T
    raise AssertionError(type(model))


@pytest.mark.parametrize("name", ALL_HDNN)
@pytest.mark.parametrize("layer", [0, 2])
def test_one_step_matches_numpy(name, layer):
    model = make_model(name, nf=6)
    y = torch.randn(5, 6, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    out = model(y, start=layer, stop=layer + 1)
    np.testing.assert_allclose(_np(out), numpy_step(model, _np(y), layer), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ALL_HDNN)
def test_forward_is_the_composition_of_steps(name):
    model = make_model(name, n_layers=4)
    y = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    states = model(y, return_states=True)
    assert states.shape == (5, 3, 4)
    z = _np(y)
    for j in range(4):
        z = numpy_step(model, z, j)
        np.testing.assert_allclose(_np(states[j + 1]), z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(model(y), states[-1])
    torch.testing.assert_close(model(model(y, 0, 2), 2, 4), states[-1])
    assert model(y, 1, 3, return_states=True).shape == (3, 3, 4)


@pytest.mark.parametrize("name", ALL_HDNN)
def test_gradcheck_inputs_and_parameters(name):
    model = make_model(name, n_layers=2)
    model.fused = False  # the layer loop is twice differentiable (the fused node: once)
    params = list(model.parameters())
    y = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    y.requires_grad_(True)

    def f(y, *ps):
        return torch.func.functional_call(model, dict(zip(names, ps, strict=True)), (y,))

    names = [n for n, _ in model.named_parameters()]
    inputs = (y, *[p.detach().clone().requires_grad_(True) for p in params])
    assert torch.autograd.gradcheck(f, inputs)
    assert torch.autograd.gradgradcheck(f, inputs)


def _jacobian_of_layers(model, y, start, stop):
    return torch.autograd.functional.jacobian(
        lambda v: model(v.unsqueeze(0), start, stop).squeeze(0), y
    )


@pytest.mark.parametrize("cls", [H2, MS3])
def test_symplectic_step_preserves_J(cls):
    model = make_model(cls.__name__, nf=6, n_layers=5, t_end=2.5, seed=3)
    assert cls.symplectic
    J = model.J
    y = torch.randn(6, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    M = _jacobian_of_layers(model, y, 0, 1)
    torch.testing.assert_close(M.T @ J @ M, J, rtol=0, atol=1e-12)
    for j in range(model.n_layers + 1):
        Mj = _jacobian_of_layers(model, y, j, model.n_layers)  # dy_L / dy_j
        torch.testing.assert_close(Mj.T @ J @ Mj, J, rtol=0, atol=1e-11)
        # a symplectic matrix has singular values in reciprocal pairs, so ||M||_2 >= 1
        assert torch.linalg.matrix_norm(Mj, ord=2) >= 1 - 1e-12


@pytest.mark.parametrize("name", ["H1_J1", "H1_J2", "MS1", "MS2", "pH1_J1", "pH1_J2"])
def test_non_symplectic_models_say_so(name):
    model = make_model(name)
    assert not type(model).symplectic


def test_forward_euler_h1_is_not_symplectic():
    model = make_model("H1_J1", nf=4, n_layers=1, t_end=1.0, seed=2)
    y = torch.randn(4, dtype=torch.float64, generator=torch.Generator().manual_seed(7))
    M = _jacobian_of_layers(model, y, 0, 1)
    assert (M.T @ model.J @ M - model.J).abs().max() > 1e-3


def test_structure_matrices():
    torch.testing.assert_close(
        j1(4), torch.tensor([[0.0, 0, -1, 0], [0, 0, 0, -1], [1, 0, 0, 0], [0, 1, 0, 0]])
    )
    torch.testing.assert_close(j2(3), torch.tensor([[0.0, 1, 1], [-1, 0, 1], [-1, -1, 0]]))
    torch.testing.assert_close(canonical_j(2), torch.tensor([[0.0, 1], [-1, 0]]))
    for J in (j1(6), j2(5), canonical_j(6)):
        torch.testing.assert_close(J.T, -J)


@pytest.mark.parametrize("name", ALL_HDNN)
def test_regularizer_matches_hand_computation(name):
    model = make_model(name, nf=4, n_layers=4, t_end=2.0)
    K, b = model.structured()
    assert K.shape == (4, 4, 4) and b.shape == (4, 4)
    Kn, bn = _np(K), _np(b)
    # the dissipative H1's L is smoothed as K is; other models have no such term
    Ln = _np(model.L) if isinstance(model, DissipativeH1) else np.zeros((4, 1))
    expected = (
        sum(
            0.5 * np.sum((Kn[j + 1] - Kn[j]) ** 2)
            + 0.5 * np.sum((bn[j + 1] - bn[j]) ** 2)
            + 0.5 * np.sum((Ln[j + 1] - Ln[j]) ** 2)
            for j in range(3)
        )
        * 0.01
        * model.h
    )
    assert float(model.regularizer(0.01).detach()) == pytest.approx(expected, rel=1e-12)


def test_structured_weights_of_split_models():
    m = make_model("MS1", nf=4, n_layers=2)
    K, _ = m.structured()
    # MS1: K = [[0, K~], [-K~^T, 0]], so ||K||_F^2 = 2 ||K~||_F^2
    assert float(K.pow(2).sum().detach()) == pytest.approx(2 * float(m.K.pow(2).sum().detach()))
    torch.testing.assert_close(K[:, 2:, :2], -m.K.transpose(1, 2))
    h2 = make_model("H2", nf=4, n_layers=2)
    K, b = h2.structured()
    torch.testing.assert_close(K[:, :2, :2], h2.K_p)
    torch.testing.assert_close(K[:, 2:, 2:], h2.K_q)
    assert float(K[:, :2, 2:].abs().sum().detach()) == 0.0


def test_structured_form_gives_the_same_field_for_h2_and_ms3():
    """For H2 and MS3 one layer equals y' = J K tanh(K^T y + b) split into two half-steps."""
    for name in ("H2", "MS3"):
        m = make_model(name, nf=4, n_layers=1, t_end=1e-4)
        K, b = m.structured()
        y = torch.randn(3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
        field = torch.tanh(y @ K[0] + b[0]) @ (m.J @ K[0]).T
        torch.testing.assert_close((m(y) - y) / m.h, field, rtol=1e-3, atol=1e-3)


def test_parameters_are_stacked_layer_first_and_normal():
    m = build_hdnn("H1_J1", 8, 200, 1.0, generator=torch.Generator().manual_seed(0))
    assert m.K.shape == (200, 8, 8) and m.b.shape == (200, 8)
    with torch.no_grad():
        assert abs(float(m.K.mean())) < 0.05 and abs(float(m.K.std()) - 1) < 0.05
    h2 = build_hdnn("H2", 6, 7, 1.0)
    assert h2.K_p.shape == (7, 3, 3) and h2.b_q.shape == (7, 3)
    ms3 = build_hdnn("MS3", 6, 7, 1.0)
    assert ms3.K1.shape == (7, 3, 3) and ms3.b2.shape == (7, 3)
    ms1 = build_hdnn("MS1", 6, 7, 1.0)
    assert ms1.K.shape == (7, 3, 3) and ms1.b.shape == (7, 6)


def test_generator_makes_initialisation_reproducible():
    a = build_hdnn("H2", 4, 3, 1.0, generator=torch.Generator().manual_seed(5))
    b = build_hdnn("H2", 4, 3, 1.0, generator=torch.Generator().manual_seed(5))
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb)


def test_constants_are_buffers():
    m = build_hdnn("H1_J2", 5, 3, 1.0)
    assert "J" in dict(m.named_buffers()) and "J" in m.state_dict()
    assert "J" not in dict(m.named_parameters())
    assert m.double().J.dtype == torch.float64


def test_readout_starts_at_zero():
    r = Readout(4)
    assert r.W.shape == (1, 4) and r.mu.shape == (1,)
    assert float(r(torch.randn(3, 4)).abs().sum().detach()) == 0.0


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: H2(5, 4, 1.0), "even nf"),
        (lambda: MS1(3, 4, 1.0), "even nf"),
        (lambda: MS3(7, 4, 1.0), "even nf"),
        (lambda: H1(5, 4, 1.0, j="J1"), "j='J2'"),
        (lambda: H1(4, 4, 1.0, j="J3"), "J1.*J2"),
        (lambda: H1(4, 0, 1.0), "n_layers"),
        (lambda: MS2(4, 4, 0.0), "t_end"),
        (lambda: MS2(4, 4, -1.0), "t_end"),
        (lambda: build_hdnn("H3", 4, 4, 1.0), "H1_J1, H1_J2, H2, MS1, MS2, MS3"),
    ],
)
def test_bad_arguments_raise_helpful_errors(build, match):
    with pytest.raises(ValueError, match=match):
        build()


def test_h1_j2_accepts_odd_nf():
    m = H1(5, 3, 1.0, j="J2")
    assert m(torch.randn(2, 5)).shape == (2, 5)


def test_bad_shapes_and_layer_ranges_raise():
    m = make_model("MS2")
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        m(torch.randn(3, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="start"):
        m(torch.randn(3, 4, dtype=torch.float64), start=2, stop=1)
