"""The dissipative H1 (pH1): R = 0 is H1 exactly, R is PSD, the step, the energy, the BSMs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from helpers import make_model

from hamnets.analysis import backward_sensitivity, spectral_norm
from hamnets.cli import main
from hamnets.hdnn import H1, DissipativeH1, build_hdnn
from hamnets.vision import HDNNImageClassifier

F64 = torch.float64


def _pair(j: str, *, n_layers: int = 3, seed: int = 0) -> tuple[H1, DissipativeH1]:
    """An H1 and a pH1 with the same K and b (the pH1 draws L after them), L zeroed."""
    h1 = make_model(f"H1_{j}", n_layers=n_layers, seed=seed)
    ph1 = make_model(f"pH1_{j}", n_layers=n_layers, seed=seed)
    assert isinstance(ph1, DissipativeH1)
    assert torch.equal(h1.K, ph1.K) and torch.equal(h1.b, ph1.b)
    with torch.no_grad():
        ph1.L.zero_()
    return h1, ph1


def _grads(model, y) -> list[torch.Tensor]:
    y = y.clone().requires_grad_(True)
    out = model(y)
    loss = (out.sin() * torch.arange(1.0, 5.0, dtype=out.dtype)).sum()  # a non-symmetric loss
    return list(torch.autograd.grad(loss, (y, model.K, model.b)))


@pytest.mark.parametrize("j", ["J1", "J2"])
@pytest.mark.parametrize("fused", [False, True])
def test_zero_dissipation_is_h1_exactly(j, fused):
    """Same K, b and L = 0: outputs, every state, gradients and regulariser bit for bit."""
    h1, ph1 = _pair(j, n_layers=8)  # 8 layers: the fused node runs (fused_min_layers)
    h1.fused = ph1.fused = fused
    y = torch.randn(5, 4, dtype=F64, generator=torch.Generator().manual_seed(1))
    assert torch.equal(ph1(y), h1(y))
    assert torch.equal(ph1(y, return_states=True), h1(y, return_states=True))
    for a, b in zip(_grads(ph1, y), _grads(h1, y), strict=True):
        assert torch.equal(a, b)
    assert torch.equal(ph1.regularizer(0.3), h1.regularizer(0.3))
    assert torch.equal(ph1.dissipation(), torch.zeros(8, 4, 4, dtype=F64))


def test_dissipation_is_symmetric_psd_and_l_lt():
    model = build_hdnn("pH1_J2", 5, 6, 1.0, generator=torch.Generator().manual_seed(3)).double()
    with torch.no_grad():
        model.L.normal_(generator=torch.Generator().manual_seed(4))  # unit scale, not 0.1
        model.L[0, :, 2:] = 0.0  # rank 2: R_0 has three zero eigenvalues
        R = model.dissipation()
    assert R.shape == (6, 5, 5)
    torch.testing.assert_close(R, R.transpose(1, 2), rtol=0, atol=1e-14)
    for j in range(6):
        L = model.L[j].detach().numpy()
        np.testing.assert_allclose(R[j].detach().numpy(), L @ L.T, rtol=1e-13, atol=1e-13)
    assert float(torch.linalg.eigvalsh(R).min()) > -1e-12
    # the initialisation: L ~ 0.1 N(0, 1), so R is small (E R = 0.01 nf I)
    init = build_hdnn("pH1_J1", 8, 200, 1.0, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert abs(float(init.L.std()) - 0.1) < 0.005
        diag = torch.diagonal(init.dissipation(), dim1=1, dim2=2)
        assert abs(float(diag.mean()) - 0.08) < 0.01


@pytest.mark.parametrize("name", ["pH1_J1", "pH1_J2"])
def test_step_is_the_written_formula(name):
    """y <- y + h (J - L L^T) K tanh(K^T y + b), in numpy, with an O(1) dissipation."""
    model = make_model(name, nf=6, n_layers=3, seed=5)
    with torch.no_grad():
        model.L.normal_(generator=torch.Generator().manual_seed(6))
    y = torch.randn(4, 6, dtype=F64, generator=torch.Generator().manual_seed(7))
    out = model(y, return_states=True).detach().numpy()
    z, J, h = y.numpy().T, model.J.numpy(), model.h  # z: (nf, batch), column vectors
    for j in range(3):
        K, b, L = (t[j].detach().numpy() for t in (model.K, model.b, model.L))
        z = z + h * (J - L @ L.T) @ K @ np.tanh(K.T @ z + b[:, None])
        np.testing.assert_allclose(out[j + 1], z.T, rtol=1e-12, atol=1e-12)


def test_the_field_dissipates_the_energy():
    """For H(y) = sum log cosh(K^T y + b): grad H . (J - R) grad H = -||L^T grad H||^2 <= 0,
    exactly (the J part vanishes: J is skew); the H1 field conserves it."""
    model = make_model("pH1_J2", nf=5, n_layers=2, seed=8)
    y = torch.randn(6, 5, dtype=F64, generator=torch.Generator().manual_seed(9))
    K, b, L = model.K[0], model.b[0], model.L[0]
    grad_h = torch.tanh(y @ K + b) @ K.T  # (batch, nf): K tanh(K^T y + b)
    field = (model.layer_step(y, *(p[0] for p in model.layer_params())) - y) / model.h
    rate = (grad_h * field).sum(1)  # dH/dt along the field, per sample
    torch.testing.assert_close(rate, -(grad_h @ L).pow(2).sum(1), rtol=1e-12, atol=1e-13)
    assert bool((rate < 0).all())
    skew_part = (grad_h @ model.J.T * grad_h).sum(1)  # grad H . J grad H, per sample
    torch.testing.assert_close(skew_part, torch.zeros(6, dtype=F64), rtol=0, atol=1e-12)


@pytest.mark.parametrize("c, expect_vanishing", [(0.0, False), (1.0, True)])
def test_dissipation_can_make_the_bsm_vanish(c, expect_vanishing):
    """K = I, b = 0, R = c I, y = 0 (a fixed point): every layer's Jacobian is
    (1 - h c) I + h J1, with singular values sqrt((1 - h c)^2 + h^2), so
    ||dy_L/dy_j|| = ((1 - h c)^2 + h^2)^((L - j) / 2): > 1 for H1 (c = 0), < 1 for c = 1."""
    n_layers, t_end = 20, 2.0
    model = DissipativeH1(4, n_layers, t_end, j="J1").double()
    with torch.no_grad():
        model.K.copy_(torch.eye(4, dtype=F64).expand(n_layers, 4, 4))
        model.b.zero_()
        model.L.copy_(math.sqrt(c) * torch.eye(4, dtype=F64).expand(n_layers, 4, 4))
    norms = spectral_norm(backward_sensitivity(model, torch.zeros(1, 4, dtype=F64), mean=True))
    h = model.h
    rate = math.sqrt((1 - h * c) ** 2 + h**2)
    expected = torch.tensor([rate ** (n_layers - j) for j in range(n_layers + 1)], dtype=F64)
    torch.testing.assert_close(norms, expected, rtol=1e-12, atol=0)
    assert (float(norms[0]) < 0.5) == expect_vanishing and (float(norms[0]) > 1) != expect_vanishing


def test_bad_dissipation_scale_is_refused():
    for bad in (-0.1, float("nan"), "0.1", True):
        with pytest.raises(ValueError, match="dissipation_scale"):
            DissipativeH1(4, 2, 1.0, dissipation_scale=bad)
    with pytest.raises(ValueError, match="DissipativeH1 with J1"):
        DissipativeH1(3, 2, 1.0)
    assert float(DissipativeH1(4, 2, 1.0, dissipation_scale=0).L.detach().abs().sum()) == 0.0


def test_image_classifier_takes_the_dissipative_model():
    for fused in (False, True):
        net = HDNNImageClassifier("pH1_J2", 2, 0.1, channels=4, fused=fused)
        x = torch.randn(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        out = net(x)
        assert out.shape == (3, 10) and bool(torch.isfinite(out).all())
        out.sum().backward()
        assert net.hdnn.L.grad is not None and float(net.hdnn.L.grad.abs().sum()) > 0


@pytest.mark.long(2)
def test_classify_and_gradients_compare_run_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["classify", "--model", "pH1_J1", "--dataset", "double_moons", "--layers", "4",
            "--epochs", "2", "--quiet", "--no-plots", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and 0 <= metrics["test_accuracy"] <= 1
    assert json.loads((out / "config.json").read_text())["model"] == "pH1_J1"
    cmp = tmp_path / "cmp"
    argv = ["gradients", "--compare", "--models", "MLP", "H1_J1", "pH1_J1", "--epochs", "2",
            "--dataset", "double_moons", "--layers", "4", "--quiet", "--out", str(cmp)]  # fmt: skip
    assert main(argv) == 0
    data = json.loads((cmp / "depth_comparison.json").read_text())
    assert list(data["profiles"]) == ["MLP", "H1_J1", "pH1_J1"]
    assert len(data["profiles"]["pH1_J1"]["initial"]) == 5
    assert (cmp / "depth_comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert "pH1_J1 ||dy_L/dy_0||" in capsys.readouterr().out
