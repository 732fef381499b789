"""Gradient norms during training: recording, saving, resume, the CLI and the comparison."""

from __future__ import annotations

import json
import os
import signal

import numpy as np
import pytest
import torch

from hamnets.analysis import (
    GradientRecorder,
    backward_sensitivity,
    depth_norms,
    load_gradients,
    save_gradients,
)
from hamnets.cli import main
from hamnets.hdnn import build_hdnn
from hamnets.training import (
    ClassifyConfig,
    Interrupted,
    RunDir,
    RunOptions,
    compare_depth_profiles,
    fit_classifier,
)

SMALL = {"dataset": "double_moons", "layers": 4, "epochs": 2, "batch_size": 1000, "seed": 1}


def test_depth_norms_index_depth_from_the_output() -> None:
    model = build_hdnn("H2", 4, 5, 1.0, generator=torch.Generator().manual_seed(0)).double()
    x = torch.randn(7, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    norms = depth_norms(model, x)
    assert norms.shape == (6,)
    assert norms[0].item() == pytest.approx(1.0)  # depth 0: dy_L/dy_L = I
    mean_bsm = backward_sensitivity(model, x).mean(0)  # (L+1, nf, nf), index j
    assert norms[5].item() == pytest.approx(torch.linalg.matrix_norm(mean_bsm[0], ord=2).item())


def test_recorder_state_and_npz_round_trip(tmp_path) -> None:
    model = build_hdnn("MS1", 4, 3, 1.0, generator=torch.Generator().manual_seed(0))
    rec = GradientRecorder()
    for step in range(3):
        rec.record(step, model, torch.randn(5, 4, generator=torch.Generator().manual_seed(step)))
    assert len(rec) == 3 and rec.norms.shape == (3, 4)
    other = GradientRecorder()
    other.load_state_dict(rec.state_dict())
    np.testing.assert_array_equal(other.norms, rec.norms)
    rec.save(tmp_path / "g.npz", model="MS1")
    data = load_gradients(tmp_path / "g.npz")
    np.testing.assert_array_equal(data["iterations"], [0, 1, 2])
    np.testing.assert_array_equal(data["norms"], rec.norms)
    assert str(data["model"]) == "MS1"
    with pytest.raises(ValueError, match="n_iter=2"):
        save_gradients(tmp_path / "bad.npz", [0, 1], np.zeros((3, 4)))
    with pytest.raises(FileNotFoundError, match="track-gradients"):
        load_gradients(tmp_path / "missing.npz")


def test_tracking_records_every_step_and_changes_no_result() -> None:
    plain = fit_classifier(ClassifyConfig(model="H2", **SMALL))
    tracked = fit_classifier(ClassifyConfig(model="H2", track_gradients=True, **SMALL))
    assert plain.gradients is None
    assert tracked.metrics["test_accuracy"] == plain.metrics["test_accuracy"]
    steps = 2 * (tracked.data.x_train.shape[0] // 1000)  # epochs * steps per epoch
    norms = tracked.gradients.norms
    assert norms.shape == (steps, 5)
    np.testing.assert_array_equal(tracked.gradients.iterations, np.arange(steps))
    np.testing.assert_allclose(norms[:, 0], 1.0)


def test_tracking_survives_ctrl_c_and_resume(tmp_path) -> None:
    cfg = ClassifyConfig(model="MS3", track_gradients=True, **SMALL)
    full = fit_classifier(cfg)
    run = RunDir(tmp_path / "run")

    def interrupt(phase: str, done: int) -> None:
        if done == 6:  # after step index 5
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        fit_classifier(cfg, RunOptions(out=str(run.path), plots=False), on_step=interrupt)
    resumed = fit_classifier(None, RunOptions(resume=str(run.path), plots=False))
    np.testing.assert_array_equal(resumed.gradients.iterations, full.gradients.iterations)
    np.testing.assert_allclose(resumed.gradients.norms, full.gradients.norms, rtol=1e-6)


@pytest.mark.long(4)
def test_classify_track_gradients_and_replot(tmp_path) -> None:
    out = tmp_path / "run"
    argv = ["classify", "--model", "H2", "--dataset", "double_moons", "--layers", "4"]
    argv += ["--batch-size", "1000"]
    assert main([*argv, "--epochs", "1", "--out", str(out), "--quiet", "--track-gradients"]) == 0
    assert json.loads((out / "config.json").read_text())["track_gradients"] is True
    data = load_gradients(out / "gradients.npz")
    n_steps = data["norms"].shape[0]
    assert n_steps > 1 and data["norms"].shape == (n_steps, 5)  # one row per step, L+1 depths
    np.testing.assert_array_equal(data["iterations"], np.arange(n_steps))
    assert (out / "gradient_norms.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["gradients", "--run", str(out), "--out", str(tmp_path / "re")]) == 0
    assert (tmp_path / "re" / "gradient_norms.png").stat().st_size > 1000


def test_gradients_errors(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["gradients", "--run", str(tmp_path)])
    assert exc.value.code == 2 and "track-gradients" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["gradients", "--compare", "--models", "H9", "--out", str(tmp_path / "c")])
    assert exc.value.code == 2 and "choose from" in capsys.readouterr().err


def test_compare_mlp_vanishes_symplectic_does_not(tmp_path) -> None:
    cfg = ClassifyConfig(dataset="double_moons", layers=12, epochs=1, batch_size=250)
    mlp, h2 = compare_depth_profiles(cfg, ["MLP", "H2"])
    assert mlp.model == "MLP" and mlp.initial.shape == mlp.trained.shape == (13,)
    assert mlp.initial[0] < 0.1 * mlp.initial[-2]  # vanishing through 11 layers
    assert h2.initial[-1] == pytest.approx(1.0) and h2.initial.min() > 0.5


def test_compare_cli_writes_json_and_png(tmp_path) -> None:
    out = tmp_path / "cmp"
    argv = ["gradients", "--compare", "--models", "MLP", "MS3", "--dataset", "double_moons"]
    assert main([*argv, "--layers", "4", "--epochs", "1", "--out", str(out), "--quiet"]) == 0
    data = json.loads((out / "depth_comparison.json").read_text())
    assert set(data["profiles"]) == {"MLP", "MS3"}
    assert len(data["profiles"]["MS3"]["trained"]) == 5
    assert (out / "depth_comparison.png").read_bytes()[:4] == b"\x89PNG"
