"""The C derivative-regression loss (hamnets.hnn._fused_loss) against autograd."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from hamnets.hnn import EnergyMLP, HamiltonianNN, MLPField, _fused_loss
from hamnets.training.hnn._config import HNNConfig
from hamnets.training.hnn._stages import DerivativeRegression

needs_c = pytest.mark.skipif(_fused_loss.library() is None, reason="no C compiler or MKL here")


def _model(kind: str, dim: int, hidden: tuple[int, ...], seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    if kind == "hnn":
        model = HamiltonianNN(EnergyMLP(dim, hidden, generator=gen))
    else:
        model = MLPField(dim, hidden, generator=gen)
    with torch.no_grad():  # biases away from zero, so that their gradients are tested too
        for p in model.parameters():
            if p.ndim == 1:
                p.normal_(0.0, 0.3, generator=gen)
    return model


def _autograd(model: nn.Module, x: torch.Tensor, y: torch.Tensor):
    model.use_c = False
    try:
        loss = (model(x) - y).pow(2).mean()
        return loss.detach(), torch.autograd.grad(loss, list(model.parameters()))
    finally:
        del model.use_c


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@needs_c
@pytest.mark.parametrize("kind", ["hnn", "mlp"])
@pytest.mark.parametrize(
    ("dim", "hidden", "rows"),
    [(2, (200, 200), 750), (4, (48, 32, 24), 333), (2, (40,), 5), (6, (30, 20), 128)],
)
def test_loss_and_gradients_equal_autograd_to_float32_rounding(kind, dim, hidden, rows):
    # row counts across the 128-row chunks: many chunks and a partial one, less than one,
    # exactly one
    model = _model(kind, dim, hidden)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(rows, dim, generator=gen)
    y = torch.randn(rows, dim, generator=gen)
    want_loss, want = _autograd(model, x, y)
    loss = _fused_loss.regression_loss(model, x, y)
    assert loss is not None and loss.shape == () and loss.requires_grad
    got = torch.autograd.grad(loss, list(model.parameters()))
    assert abs(loss.item() - want_loss.item()) <= 1e-6 * want_loss.item()
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        assert _rel(g, w) < 1e-5


@needs_c
@pytest.mark.parametrize("kind", ["hnn", "mlp"])
def test_gradients_without_autograd_are_the_nodes(kind):
    model = _model(kind, 2, (40, 30))
    x, y = torch.randn(300, 2), torch.randn(300, 2)
    loss = _fused_loss.regression_loss(model, x, y)
    want = torch.autograd.grad(loss, list(model.parameters()))
    got_loss, pairs = _fused_loss.regression_gradients(model, x, y)
    assert not got_loss.requires_grad and got_loss.item() == loss.item()
    assert [p for p, _ in pairs] == list(model.parameters())
    for (_, g), w in zip(pairs, want, strict=True):
        assert torch.equal(g, w)  # the same C call: the same bits


@needs_c
def test_the_node_scales_by_the_incoming_gradient_and_allows_a_retained_graph():
    model = _model("hnn", 2, (32, 32))
    x, y = torch.randn(200, 2), torch.randn(200, 2)
    loss = _fused_loss.regression_loss(model, x, y)
    (g1,) = torch.autograd.grad(3.0 * loss, [model.energy.net[0].weight], retain_graph=True)
    (g2,) = torch.autograd.grad(loss, [model.energy.net[0].weight])
    torch.testing.assert_close(g1, 3.0 * g2)


@needs_c
def test_a_training_stage_steps_through_the_kernel_like_autograd(monkeypatch):
    calls = []
    real = _fused_loss._Call.run
    monkeypatch.setattr(_fused_loss._Call, "run", lambda *a: calls.append(1) or real(*a))
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(300, 2, generator=gen)
    y = torch.stack([x[:, 1], -x[:, 0]], 1)  # a spring's field
    config = HNNConfig(system="spring", steps=20, lr=1e-3)
    finals = []
    for use_c in (True, False):
        model = _model("hnn", 2, (64, 64))
        model.use_c = use_c
        stage = DerivativeRegression(
            model, x, y, config, torch.Generator().manual_seed(0), label="hnn"
        )
        for i in range(20):
            stage.step(i)
        finals.append(torch.cat([p.detach().flatten() for p in model.parameters()]))
    assert len(calls) == 20  # the C path ran every step, the other run never
    assert _rel(finals[0], finals[1]) < 1e-5  # 20 Adam steps: the same parameters


def test_falls_back_wherever_the_kernel_does_not_apply():
    x, y = torch.randn(10, 2), torch.randn(10, 2)
    hnn = _model("hnn", 2, (16,))
    assert _fused_loss.regression_loss(hnn.double(), x.double(), y.double()) is None
    with torch.no_grad():
        assert _fused_loss.regression_loss(_model("hnn", 2, (16,)), x, y) is None
    relu = MLPField(2, (16,), activation=nn.ReLU)
    assert _fused_loss.regression_loss(relu, x, y) is None
    off = _model("mlp", 2, (16,))
    off.use_c = False
    assert _fused_loss.regression_loss(off, x, y) is None
    assert _fused_loss.regression_loss(_model("mlp", 2, (16,)), x.requires_grad_(), y) is None
    assert _fused_loss.regression_loss(_model("mlp", 4, (16,)), torch.randn(10, 2), y) is None


def test_without_the_kernel_the_stage_trains_through_autograd(monkeypatch):
    monkeypatch.setattr(_fused_loss, "library", lambda: None)
    model = _model("mlp", 2, (16,))
    x, y = torch.randn(50, 2), torch.randn(50, 2)
    assert _fused_loss.regression_loss(model, x, y) is None
    assert _fused_loss.regression_gradients(model, x, y) is None
    config = HNNConfig(system="spring", steps=2)
    stage = DerivativeRegression(model, x, y, config, torch.Generator(), label="baseline")
    assert stage.step(0)["loss"] > 0


@needs_c
@pytest.mark.parametrize("kind", ["hnn", "mlp"])
def test_the_bound_kernel_is_regression_gradients_bit_for_bit(kind):
    """:class:`RegressionKernel` (the stage's) gives the same loss and gradients, in one
    buffer reused step after step and set as every parameter's ``.grad``."""
    model = _model(kind, 2, (40, 30))
    gen = torch.Generator().manual_seed(5)
    x, y = torch.randn(300, 2, generator=gen), torch.randn(300, 2, generator=gen)
    bound = _fused_loss.RegressionKernel.build(model, x, y)
    assert bound is not None
    first = None
    for rows in (300, 17):  # a batch of another size goes through it too
        loss, pairs = _fused_loss.regression_gradients(model, x[:rows], y[:rows])
        got = bound(x[:rows], y[:rows])
        assert got == float(loss)
        grads = [p.grad for p in model.parameters()]
        assert all(torch.equal(g, want) for g, (_, want) in zip(grads, pairs, strict=True))
        first = grads if first is None else first
        assert all(a is b for a, b in zip(first, grads, strict=True))


@needs_c
def test_the_bound_kernel_declines_what_it_was_not_built_for():
    model = _model("hnn", 2, (16,))
    x, y = torch.randn(20, 2), torch.randn(20, 2)
    bound = _fused_loss.RegressionKernel.build(model, x, y)
    assert bound(x.double(), y.double()) is None
    assert bound(torch.randn(20, 3), torch.randn(20, 3)) is None
    assert bound(x.t().contiguous().t(), y) is None  # (not contiguous)
    model.use_c = False
    assert bound(x, y) is None
    model.use_c = True
    assert bound(x, y) is not None
    first = next(model.parameters())
    first.data = first.data.clone()  # another storage: the kernel would read the old one
    assert bound(x, y) is None
    assert _fused_loss.RegressionKernel.build(model.double(), x.double(), y.double()) is None
