"""The fast kernels of ``hamnets classify`` (``ClassifyConfig.fused``) against the plain code:
the numpy read-out and its BCE head, the smoothness regulariser as one node, and a short run
of each protocol; a stored configuration without the field resumes with the plain code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from helpers import ALL_HDNN

from hamnets.hdnn import build_hdnn
from hamnets.hdnn._smoothness import smoothness
from hamnets.training import ClassifyConfig, fit_classifier
from hamnets.training.classify._readout_fit import AdamReadout, augment


def _rel(new: torch.Tensor, old: torch.Tensor) -> float:
    return float((new - old).norm() / old.norm())


def _features(seed: int = 0, batch: int = 125, nf: int = 4):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, nf, generator=gen)
    y = (torch.rand(batch, generator=gen) < 0.5).float()
    return x, y


def test_numpy_read_out_fit_equals_torch_to_float32_rounding():
    x, y = _features()
    fits = {}
    for backend in ("torch", "numpy"):
        r = AdamReadout(4, lr=0.05, ridge=1e-3, backend=backend)
        r.fit(augment(x), y, 10)  # the fit on one batch ...
        for k in range(5):  # ... and single steps on others (the final read-out)
            xb, yb = _features(seed=k + 1)
            r.step(augment(xb), yb)
        fits[backend] = (r.W.clone(), r.mu.clone(), r.t)
    (W0, mu0, t0), (W1, mu1, t1) = fits["torch"], fits["numpy"]
    assert t0 == t1 == 15
    assert _rel(W1, W0) < 1e-5 and _rel(mu1, mu0) < 1e-5
    assert float(W0.norm()) > 0.1  # it moved


def test_numpy_read_out_state_round_trips_and_is_a_copy():
    x, y = _features()
    r = AdamReadout(4, backend="numpy")
    r.fit(augment(x), y, 3)
    state = r.state_dict()
    r.fit(augment(x), y, 3)  # the saved state does not follow
    fresh = AdamReadout(4, backend="numpy")
    fresh.load_state_dict(state)
    fresh.fit(augment(x), y, 3)
    torch.testing.assert_close(fresh.W, r.W, rtol=0, atol=0)
    plain = AdamReadout(4, backend="torch")
    plain.load_state_dict(state)  # the checkpoint format is the same for both
    assert plain.t == 3


def test_numpy_bce_head_equals_torch_value_gradient_and_count():
    x, y = _features(batch=200)
    out = {}
    for backend in ("torch", "numpy"):
        r = AdamReadout(4, backend=backend)
        r.fit(augment(x), y, 10)
        feats = x.clone().requires_grad_(True)
        loss, correct = r.loss(feats, y)
        (grad,) = torch.autograd.grad(3.0 * loss, [feats])
        out[backend] = (loss.detach(), grad, correct)
    (l0, g0, c0), (l1, g1, c1) = out["torch"], out["numpy"]
    assert abs(float(l1 - l0)) / float(l0) < 1e-6
    assert _rel(g1, g0) < 1e-5
    assert c0 == c1 and 0 < c0 < 200
    # and the plain formula, on the read-out the fit left
    logits = x @ r.W.t().squeeze(1) + r.mu
    assert abs(float(F.binary_cross_entropy_with_logits(logits, y) - l1)) < 1e-6


def test_numpy_bce_head_gradcheck():
    x, y = _features(batch=6)
    r = AdamReadout(4, backend="numpy", dtype=torch.float64)
    r.fit(augment(x.double()), y.double(), 5)
    feats = x.double().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: r.loss(f, y.double())[0], (feats,))


def test_the_numpy_read_out_is_for_the_cpu():
    with pytest.raises(ValueError, match="CPU"):
        AdamReadout(4, backend="numpy", device="cuda")
    with pytest.raises(ValueError, match="backend"):
        AdamReadout(4, backend="jax")


@pytest.mark.parametrize("name", [*ALL_HDNN, "pH1_J1"])
def test_regularizer_node_equals_the_plain_sum(name):
    model = build_hdnn(name, 4, 6, 1.2, generator=torch.Generator().manual_seed(0))
    params = [p for p in model.parameters() if p.requires_grad]
    plain = model.regularizer(5e-4)
    node = model.regularizer(5e-4, node=True)
    g_plain = torch.autograd.grad(plain, params, allow_unused=True)
    g_node = torch.autograd.grad(node, params, allow_unused=True)
    assert abs(float(node.detach() - plain.detach())) <= 1e-6 * float(plain.detach())
    for a, b in zip(g_node, g_plain, strict=True):
        if b is None:
            assert a is None or float(a.abs().max()) == 0
        else:
            assert _rel(a, b) < 1e-5


def test_smoothness_node_gradcheck():
    gen = torch.Generator().manual_seed(0)
    K = torch.randn(4, 3, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    b = torch.randn(4, 3, dtype=torch.float64, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(lambda K, b: smoothness(0.7, K, b), (K, b))
    one = torch.randn(1, 3, dtype=torch.float64, requires_grad=True)  # one layer: R = 0
    assert float(smoothness(0.7, one).detach()) == 0.0


@pytest.mark.parametrize(("protocol", "model"), [("paper", "H1_J1"), ("joint", "MS1")])
def test_a_short_run_with_the_fast_kernels_follows_the_plain_one(protocol, model):
    """The same training to float rounding: two epochs of each, the loss of every epoch
    within 1e-4 relative (rounding grows over the steps, but not that far in 64 steps)."""
    runs = {}
    for fused in (False, True):
        cfg = ClassifyConfig(
            dataset="double_moons", model=model, protocol=protocol, epochs=2, batch_size=125,
            layers=8, final_readout_epochs=2, fused=fused,
        )  # fmt: skip
        runs[fused] = fit_classifier(cfg)
    for a, b in zip(runs[True].history, runs[False].history, strict=True):
        assert abs(a["loss"] - b["loss"]) <= 1e-4 * abs(b["loss"])
    assert _rel(runs[True].W, runs[False].W) < 1e-3
    assert abs(runs[True].metrics["test_accuracy"] - runs[False].metrics["test_accuracy"]) < 0.01


def test_a_stored_configuration_without_the_field_resumes_with_the_plain_code():
    stored = ClassifyConfig().to_dict()
    assert stored["fused"] is True  # a new run: the fast kernels
    del stored["fused"]  # a run written before the field existed
    assert ClassifyConfig.from_dict(stored).fused is False
    stored["fused"] = True
    assert ClassifyConfig.from_dict(stored).fused is True
