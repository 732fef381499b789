"""``hamnets hnn`` training: checkpoints, Ctrl-C and resume to exactly the uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from hamnets.hnn import EnergyMLP, HamiltonianNN, MLPField
from hamnets.integrate import Tsit5
from hamnets.systems import Spring
from hamnets.training import HNNConfig, RunDir, run_hnn
from hamnets.training._hnn import Interrupted

# Mini-batches of 128 of 750 pairs (a new permutation every 5 steps), a decaying learning rate,
# and all three stages: 12 derivative steps, 4 trajectory steps, 12 baseline steps.
SMALL = HNNConfig(system="spring", hidden=(8,), steps=12, batch_size=128, lr=3e-3,
                  final_lr_fraction=0.1, trajectory_steps=4, log_every=3, horizon=1.0,
                  n_eval=2, eval_points=5)  # fmt: skip


def _run(path: Path, config: HNNConfig = SMALL, **kwargs) -> tuple[dict, dict]:
    def make_model(g: torch.Generator) -> HamiltonianNN:
        return HamiltonianNN(EnergyMLP(2, config.hidden, generator=g))

    def make_baseline(g: torch.Generator) -> MLPField:
        return MLPField(2, config.hidden, generator=g)

    nets: dict = {}

    def keep(g: torch.Generator, make):
        nets[make.__name__] = make(g)
        return nets[make.__name__]

    metrics = run_hnn(
        config,
        truth=Spring(),
        make_model=lambda g: keep(g, make_model),
        make_baseline=(lambda g: keep(g, make_baseline)) if config.compare_baseline else None,
        solver=Tsit5(rtol=1e-6, atol=1e-8),
        run=RunDir(path),
        **kwargs,
    )
    return metrics, nets


def _without_times(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if not k.endswith("_seconds")}
    return {k: _without_times(v) if isinstance(v, dict) else v for k, v in out.items()}


def _same(a: dict, b: dict) -> None:
    for name in ("make_model", "make_baseline"):
        for key, value in a[name].state_dict().items():
            assert torch.equal(b[name].state_dict()[key], value), (name, key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, dict, list]:
    path = tmp_path_factory.mktemp("full")
    metrics, nets = _run(path)
    return metrics, nets, (path / "history.csv").read_text()


@pytest.mark.parametrize(("stage", "step"), [("hnn", 7), ("trajectory", 2), ("baseline", 12)])
def test_ctrl_c_then_resume_gives_the_uninterrupted_run(tmp_path, uninterrupted, stage, step):
    """A real SIGINT after ``step`` of ``stage``: the step finishes, the checkpoint is saved,
    and the resumed run ends with bit-identical networks, metrics and history."""

    def ctrl_c(label: str, done: int) -> None:
        if (label, done) == (stage, step):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match=f"after step {step} of .* of {stage}"):
        _run(tmp_path, on_step=ctrl_c)
    ckpt = RunDir(tmp_path).load_checkpoint()
    key = "model" if stage == "hnn" else stage
    assert (ckpt["stage"], ckpt["stage_state"]["done"]) == (key, step)
    assert not (tmp_path / "metrics.json").exists()
    metrics, nets = _run(tmp_path, resume=True)
    full_metrics, full_nets, full_history = uninterrupted
    _same(full_nets, nets)
    assert _without_times(metrics) == _without_times(full_metrics)
    assert (tmp_path / "history.csv").read_text() == full_history
    assert metrics["wall_seconds"] > 0


def test_a_crash_resumes_from_the_last_periodic_checkpoint(tmp_path, uninterrupted) -> None:
    def crash(label: str, done: int) -> None:
        if (label, done) == ("baseline", 7):
            raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        _run(tmp_path, on_step=crash, checkpoint_every=5)
    ckpt = RunDir(tmp_path).load_checkpoint()
    assert (ckpt["stage"], ckpt["stage_state"]["done"]) == ("baseline", 5)
    metrics, nets = _run(tmp_path, resume=True)
    _same(uninterrupted[1], nets)
    assert _without_times(metrics) == _without_times(uninterrupted[0])


def test_resuming_a_finished_run_re_evaluates_it(tmp_path, uninterrupted) -> None:
    _run(tmp_path)
    metrics, nets = _run(tmp_path, resume=True, on_step=lambda *_: pytest.fail("trained again"))
    _same(uninterrupted[1], nets)
    assert _without_times(metrics) == _without_times(uninterrupted[0])


def test_resume_refuses_another_config_or_no_checkpoint(tmp_path) -> None:
    config = HNNConfig(system="tutorial", hidden=(4,), steps=3, batch_size=256)
    _run(tmp_path, config)
    with pytest.raises(ValueError, match=r"another configuration \(different: lr, steps\)"):
        other = HNNConfig(system="tutorial", hidden=(4,), steps=4, batch_size=256, lr=1)
        _run(tmp_path, other, resume=True)
    with pytest.raises(FileNotFoundError, match="--resume needs the folder of an earlier run"):
        _run(tmp_path / "empty", config, resume=True)


def _interrupt_at(monkeypatch, stage: str, step: int) -> None:
    """Send a real SIGINT after ``step`` of ``stage`` in a CLI run (which has no on_step)."""
    from hamnets.training import _hnn

    train = _hnn._train

    def train_with_ctrl_c(stage_, *args, **kwargs):
        def on_step(label: str, done: int) -> None:
            if (label, done) == (stage, step):
                os.kill(os.getpid(), signal.SIGINT)

        return train(stage_, *args, **{**kwargs, "on_step": on_step})

    monkeypatch.setattr(_hnn, "_train", train_with_ctrl_c)


def test_cli_ctrl_c_resume_and_flags(tmp_path, monkeypatch, capsys) -> None:
    from hamnets.cli import main

    argv = ["hnn", "--system", "tutorial", "--steps", "8", "--batch-size", "128", "--lr", "0.01"]
    argv += ["--hidden", "8", "--solver", "rk4", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "full")]) == 0
    with monkeypatch.context() as m:
        _interrupt_at(m, "hnn", 5)
        assert main([*argv, "--out", str(tmp_path / "cut")]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (
        f"hamnets: interrupted after step 5 of 8 of hnn; checkpoint saved. "
        f"Continue with: hamnets hnn --resume {tmp_path / 'cut'}"
    )
    # a flag that agrees with the run is allowed; the others (steps: 8, not the tutorial's
    # default 1000) come from the run's config.json
    assert main(["hnn", "--resume", str(tmp_path / "cut"), "--lr", "0.01", "--quiet"]) == 0
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("full", "cut")]
    assert _without_times(metrics[0]) == _without_times(metrics[1])
    assert metrics[0]["system"] == "tutorial"
    for extra, message in (
        (["--lr", "0.5"], "the run was made with --lr 0.01 (given: 0.5)"),
        (["--seed", "3", "--hidden", "4,4", "--no-baseline"], "--hidden 8 (given: 4,4); --seed 0 "
         "(given: 3). A resumed run keeps its configuration"),
        (["--out", str(tmp_path)], "give --resume DIR or --out DIR, not both"),
        (["--checkpoint-every", "-1"], "--checkpoint-every must be >= 0"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["hnn", "--resume", str(tmp_path / "cut"), *extra])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["hnn", "--resume", str(tmp_path / "nothing")])
    assert "no such folder" in capsys.readouterr().err
