"""Training: the paper's schedule, the closed-form read-out, determinism, Ctrl-C and resume."""

from __future__ import annotations

import os
import signal

import pytest
import torch
import torch.nn.functional as F

from hamnets.training import (
    AdamReadout,
    ClassifyConfig,
    Interrupted,
    RunDir,
    RunOptions,
    fit_classifier,
    paper_lr_factor,
)
from hamnets.training.classify._readout_fit import augment


def test_paper_schedule_matches_the_reference_step_reset():
    # epoch 0: the reference uses t = 1 while true Adam is at t = step -> gain ratio > 1
    first_epoch = [paper_lr_factor(0, s) for s in range(2, 33)]
    assert 1.3 < min(first_epoch) and max(first_epoch) < 2.1
    assert paper_lr_factor(0, 1) == pytest.approx(1.0)
    # from epoch 10 on (32 steps per epoch) about a quarter
    for epoch in (10, 25, 49):
        assert 0.2 < paper_lr_factor(epoch, epoch * 32 + 5) < 0.32
    # explicit value: epoch 10, step 330
    b1, b2 = 0.9, 0.999
    gain = lambda t: (1 - b2**t) ** 0.5 / (1 - b1**t)  # noqa: E731
    assert paper_lr_factor(10, 330) == pytest.approx(gain(11) / gain(330), rel=1e-12)


def test_reference_adam_with_reset_counter_equals_scheduled_adam():
    """Two paths: Adam whose step counter is reset to the epoch, and Adam with our schedule."""
    g = torch.Generator().manual_seed(0)
    w0 = torch.randn(5, dtype=torch.float64, generator=g)
    target = torch.randn(5, dtype=torch.float64, generator=g)
    a = w0.clone().requires_grad_(True)
    b = w0.clone().requires_grad_(True)
    opt_a = torch.optim.Adam([a], lr=0.05, eps=0.0)
    opt_b = torch.optim.Adam([b], lr=0.05, eps=0.0)
    steps_per_epoch = 3
    for step in range(12):
        epoch = step // steps_per_epoch
        for p, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            ((p - target) ** 4).sum().backward()
        if opt_a.state:
            opt_a.state[a]["step"] = torch.tensor(float(epoch), dtype=torch.float64)
        opt_a.step()
        opt_b.param_groups[0]["lr"] = 0.05 * paper_lr_factor(epoch, step + 1)
        opt_b.step()
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_closed_form_readout_equals_autograd_adam():
    g = torch.Generator().manual_seed(1)
    feats = torch.randn(30, 4, dtype=torch.float64, generator=g)
    labels = (torch.rand(30, generator=g, dtype=torch.float64) > 0.5).double()
    fast = AdamReadout(4, lr=0.05, ridge=1e-4, dtype=torch.float64)
    fast.fit(augment(feats), labels, steps=10)
    W = torch.zeros(1, 4, dtype=torch.float64, requires_grad=True)
    mu = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([W, mu], lr=0.05)
    for _ in range(10):
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits((feats @ W.t()).squeeze(1) + mu, labels)
        loss = loss + 1e-4 * 0.5 * (W.pow(2).sum() + mu.pow(2).sum())
        loss.backward()
        opt.step()
    torch.testing.assert_close(fast.W, W.detach(), rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(fast.mu, mu.detach(), rtol=1e-9, atol=1e-12)


SMALL = dict(dataset="double_moons", layers=6, t_end=1.0, epochs=3, batch_size=200)


@pytest.mark.parametrize("protocol", ["joint", "paper"])
def test_same_seed_same_metrics(protocol):
    cfg = ClassifyConfig(protocol=protocol, final_readout_epochs=2, **SMALL)
    a, b = fit_classifier(cfg), fit_classifier(cfg)
    for key in ("train_accuracy", "test_accuracy", "final_loss"):
        assert a.metrics[key] == b.metrics[key]
    assert a.history == [
        dict(r, wall_seconds=a.history[i]["wall_seconds"]) for i, r in enumerate(b.history)
    ]


def test_training_learns_double_moons():
    cfg = ClassifyConfig(
        dataset="double_moons", model="H1_J1", layers=8, t_end=1.0, epochs=6, batch_size=125
    )
    result = fit_classifier(cfg)
    assert result.metrics["test_accuracy"] > 0.95
    assert result.history[-1]["loss"] < result.history[0]["loss"]


@pytest.mark.parametrize("protocol", ["joint", "paper"])
def test_ctrl_c_saves_and_resume_reproduces_the_uninterrupted_run(tmp_path, protocol):
    cfg = ClassifyConfig(protocol=protocol, final_readout_epochs=2, **SMALL)
    full = fit_classifier(cfg)
    run = RunDir(tmp_path / "run")

    def interrupt(phase: str, done: int) -> None:
        if done == 31:  # mid-way through epoch 1 (20 steps per epoch)
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        fit_classifier(cfg, RunOptions(out=str(run.path)), on_step=interrupt)
    ckpt = run.load_checkpoint()
    assert divmod(ckpt["engine"]["done"], 20) == (1, 11)
    resumed = fit_classifier(cfg, RunOptions(resume=str(run.path), plots=False))
    for key in ("train_accuracy", "test_accuracy", "final_loss"):
        assert resumed.metrics[key] == full.metrics[key]
    assert [r["loss"] for r in resumed.history] == [r["loss"] for r in full.history]


def test_resume_refuses_another_config(tmp_path):
    cfg = ClassifyConfig(**SMALL)
    fit_classifier(cfg, RunOptions(out=str(tmp_path / "run"), plots=False))
    with pytest.raises(ValueError, match="the run was made with epochs = 3 \\(given: 4\\)"):
        fit_classifier(
            ClassifyConfig(**dict(SMALL, epochs=4)), RunOptions(resume=str(tmp_path / "run"))
        )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(model="H3"), "H1_J1, H1_J2, H2, MS1, MS2, MS3"),
        (dict(protocol="fast"), "paper, joint"),
        (dict(layers=0), "layers"),
        (dict(t_end=-1.0), "t_end"),
        (dict(lr=float("nan")), "lr"),
        (dict(alpha=-1.0), "alpha"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ClassifyConfig(**kwargs)


def test_batch_larger_than_data_is_refused():
    with pytest.raises(ValueError, match="--batch-size"):
        fit_classifier(ClassifyConfig(batch_size=5000, epochs=1))


def test_config_round_trips_through_dict():
    cfg = ClassifyConfig(input_features=(0, 3), **SMALL)
    assert ClassifyConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown key 'colour'"):
        ClassifyConfig.from_dict(dict(cfg.to_dict(), colour="red"))
