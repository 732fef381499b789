"""``hamnets hnn`` training: checkpoints, Ctrl-C and resume to exactly the uninterrupted run,
divergence, and a run built from its configuration alone."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
import torch

from hamnets.integrate import RK4, Leapfrog, Tsit5
from hamnets.training import (
    ConfigError,
    Diverged,
    HNNConfig,
    Interrupted,
    RunDir,
    RunFolderError,
    RunOptions,
    run_hnn,
)
from hamnets.training.hnn import SYSTEMS, build_solvers

# Mini-batches of 128 of 750 pairs (a new permutation every 5 steps), a decaying learning rate,
# and all three stages: 12 derivative steps, 4 trajectory steps, 12 baseline steps.
SMALL = HNNConfig(system="spring", hidden=(8,), steps=12, batch_size=128, lr=3e-3,
                  final_lr_fraction=0.1, trajectory_steps=4, log_every=3, horizon=1.0,
                  n_eval=2, eval_points=5)  # fmt: skip


def _run(path: Path, config: HNNConfig | None = SMALL, *, resume: bool = False, **kwargs):
    """``run_hnn`` into ``path``; returns the metrics and the networks of the last checkpoint."""
    checkpoint_every = kwargs.pop("checkpoint_every", None)
    options = RunOptions(
        resume=str(path) if resume else None,
        out=None if resume else str(path),
        checkpoint_every=checkpoint_every,
        plots=False,
    )
    metrics = run_hnn(None if resume else config, options, **kwargs).metrics
    return metrics, RunDir(path).load_checkpoint()["task"]


def _without_times(metrics: dict) -> dict:
    out = {k: v for k, v in metrics.items() if not k.endswith("_seconds")}
    return {k: _without_times(v) if isinstance(v, dict) else v for k, v in out.items()}


def _same(a: dict, b: dict) -> None:
    for name in ("model", "baseline"):
        for key, value in a[name].items():
            assert torch.equal(b[name][key], value), (name, key)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> tuple[dict, dict, list]:
    path = tmp_path_factory.mktemp("full")
    metrics, nets = _run(path)
    return metrics, nets, (path / "history.csv").read_text()


@pytest.mark.parametrize(("stage", "step"), [("model", 7), ("trajectory", 2), ("baseline", 12)])
def test_ctrl_c_then_resume_gives_the_uninterrupted_run(tmp_path, uninterrupted, stage, step):
    """A real SIGINT after ``step`` of ``stage``: the step finishes, the checkpoint is saved,
    and the resumed run ends with bit-identical networks, metrics and history."""

    def ctrl_c(label: str, done: int) -> None:
        if (label, done) == (stage, step):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted, match=f"after step {step} of {stage}"):
        _run(tmp_path, on_step=ctrl_c)
    ckpt = RunDir(tmp_path).load_checkpoint()
    assert (ckpt["engine"]["phase"], ckpt["engine"]["done"]) == (stage, step)
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
    assert (ckpt["engine"]["phase"], ckpt["engine"]["done"]) == ("baseline", 5)
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
    other = HNNConfig(system="tutorial", hidden=(4,), steps=4, batch_size=256, lr=1)
    with pytest.raises(ConfigError, match=r"the run was made with steps = 3 \(given: 4\); lr"):
        run_hnn(other, RunOptions(resume=str(tmp_path)))
    with pytest.raises(RunFolderError, match="pass the folder of an earlier run"):
        run_hnn(config, RunOptions(resume=str(tmp_path / "empty")))


def test_the_run_is_built_from_its_config_alone(tmp_path) -> None:
    """One name per concept: the system names the truth the data come from and the rollouts
    are scored against; config.json records the solvers the rollouts and stages use."""
    for name, entry in SYSTEMS.items():
        if name == "two_body" or entry.port:  # two_body: slow to draw; the port systems'
            continue  # rows and truths: tests/test_port_training.py
        truth, data = entry.truth(), entry.data(torch.Generator().manual_seed(0))
        if entry.trajectories:  # the data are the truth's: dx/dt = J grad H at clean states
            traj = data.trajectories
            field = truth(traj.train_clean.double().reshape(-1, truth.dim))
            torch.testing.assert_close(field.float(), data.dxdt, rtol=1e-5, atol=1e-5)
        assert data.x.shape[1] == truth.dim, name
    for kwargs, solvers in (
        ({"model": "separable", "solver": "leapfrog"}, ("leapfrog", "leapfrog", "rk4")),
        ({"model": "hnn"}, ("tsit5", "rk4", "tsit5")),
        ({"model": "hnn", "trajectory_solver": "tsit5"}, ("tsit5", "tsit5", "tsit5")),
    ):
        cfg = HNNConfig(hidden=(4,), steps=1, **kwargs)
        assert (cfg.solver, cfg.trajectory_solver, cfg.baseline_solver) == solvers
        built = build_solvers(cfg)
        assert type(built["model"]).__name__.lower() == cfg.solver
        assert type(built["baseline"]).__name__.lower() == cfg.baseline_solver
    with pytest.raises(ValueError, match="separable Hamiltonians only"):
        HNNConfig(model="hnn", solver="leapfrog")
    with pytest.raises(ValueError, match="separable Hamiltonians only"):
        HNNConfig(model="hnn", trajectory_solver="leapfrog")
    with pytest.raises(ValueError, match="needs noisy trajectories"):
        HNNConfig(system="tutorial", trajectory_steps=3)
    assert not HNNConfig(model="baseline").compare_baseline
    assert not HNNConfig(system="tutorial").compare_baseline
    # config.json holds what the run used, and a resume rebuilds exactly that
    cfg = HNNConfig(system="spring", model="separable", solver="leapfrog", hidden=(4,),
                    steps=2, trajectory_steps=1, horizon=0.5, n_eval=2, eval_points=3)  # fmt: skip
    _run(tmp_path, cfg)
    stored = json.loads((tmp_path / "config.json").read_text())
    assert (stored["solver"], stored["trajectory_solver"], stored["baseline_solver"]) == (
        "leapfrog", "leapfrog", "rk4")  # fmt: skip
    assert HNNConfig.from_dict(stored) == cfg


def test_the_stages_and_rollouts_use_the_configured_solvers(monkeypatch) -> None:
    """The solver objects that integrate are those config.json names (spied on odeint)."""
    from hamnets.training.hnn import _evaluate, _stages

    used: list[tuple[str, type]] = []

    def spy(module):
        real = module.odeint

        def odeint(field, x0, t, solver):
            used.append((module.__name__.rsplit(".", 1)[-1], type(solver)))
            return real(field, x0, t, solver)

        monkeypatch.setattr(module, "odeint", odeint)

    spy(_stages)
    spy(_evaluate)
    cfg = HNNConfig(system="spring", model="separable", solver="leapfrog", hidden=(4,),
                    steps=1, trajectory_steps=1, horizon=0.5, n_eval=2, eval_points=3)  # fmt: skip
    run_hnn(cfg)
    assert ("_stages", Leapfrog) in used
    rollouts = {s for m, s in used if m == "_evaluate"}
    assert rollouts == {Leapfrog, RK4}  # the model's leapfrog, the baseline's rk4
    used.clear()
    run_hnn(HNNConfig(system="spring", hidden=(4,), steps=1, trajectory_steps=1, horizon=0.5,
                      n_eval=2, eval_points=3, compare_baseline=False))  # fmt: skip
    assert ("_stages", RK4) in used and ("_evaluate", Tsit5) in used


def test_a_diverging_run_stops_and_keeps_the_last_good_checkpoint(tmp_path) -> None:
    cfg = HNNConfig(system="spring", hidden=(8,), steps=20, lr=1e30, log_every=5, horizon=0.5,
                    n_eval=2, eval_points=3)  # fmt: skip
    with pytest.raises(Diverged):
        _run(tmp_path, cfg, checkpoint_every=1)
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "diverged"
    ckpt = RunDir(tmp_path).load_checkpoint()
    for net in ("model", "baseline"):
        for value in ckpt["task"][net].values():
            assert torch.isfinite(value).all()
    assert ckpt["engine"]["done"] < metrics["step"] or ckpt["engine"]["phase"] != metrics["phase"]


def test_cli_ctrl_c_resume_and_flags(tmp_path, monkeypatch, capsys) -> None:
    from hamnets.cli import main

    argv = ["hnn", "--system", "tutorial", "--steps", "8", "--batch-size", "128", "--lr", "0.01"]
    argv += ["--hidden", "8", "--solver", "rk4", "--quiet", "--no-plots"]
    assert main([*argv, "--out", str(tmp_path / "full")]) == 0

    def ctrl_c(label: str, done: int) -> None:
        if (label, done) == ("model", 5):
            os.kill(os.getpid(), signal.SIGINT)

    from hamnets.training import _session

    real = _session.Engine

    def engine(*args, **kwargs):
        return real(*args, **{**kwargs, "on_step": ctrl_c})

    with monkeypatch.context() as m:
        m.setattr(_session, "Engine", engine)
        assert main([*argv, "--out", str(tmp_path / "cut")]) == 130
    err = capsys.readouterr().err.strip()
    assert err == (
        f"hamnets: interrupted after step 5 of model; checkpoint saved. "
        f"Continue with: hamnets hnn --resume {tmp_path / 'cut'}"
    )
    # a flag that agrees with the run is allowed; the others (steps: 8, not the tutorial's
    # default 1000) come from the run's config.json
    resume = ["hnn", "--resume", str(tmp_path / "cut"), "--lr", "0.01", "--quiet", "--no-plots"]
    assert main(resume) == 0
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("full", "cut")]
    assert _without_times(metrics[0]) == _without_times(metrics[1])
    assert metrics[0]["system"] == "tutorial"
    for extra, message in (
        (["--lr", "0.5"], "the run was made with --lr 0.01 (given: 0.5)"),
        (["--seed", "3", "--hidden", "4,4", "--no-baseline"], "--hidden 8 (given: 4,4); --seed 0 "
         "(given: 3). A resumed run keeps its configuration"),
        (["--out", str(tmp_path)], "give --resume DIR or --out DIR, not both"),
        (["--checkpoint-every", "-1"], "--checkpoint-every: expected an integer >= 0"),
    ):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["hnn", "--resume", str(tmp_path / "cut"), *extra])
        assert exc.value.code == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["hnn", "--resume", str(tmp_path / "nothing")])
    assert "no such folder" in capsys.readouterr().err
