"""``hamnets counterexample``: the files it writes and the errors it reports."""

from __future__ import annotations

import json

import pytest

from hamnets.cli import main


def test_counterexample_writes_metrics_and_pictures(tmp_path, capsys) -> None:
    out = tmp_path / "ce"
    assert main(["counterexample", "--out", str(out), "--frames", "3", "--dpi", "40"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["bsm"]) == 2 and len(metrics["bsm"][0]) == 2
    assert abs(metrics["determinant"] - 1) < 1e-9
    assert metrics["spectral_norm"] == pytest.approx(6.598, abs=1e-3)
    assert metrics["bsm"][1][1] == pytest.approx(-5.0155, abs=1e-3)
    for name in ("bsm_entries.png", "trajectories.png", "trajectories.gif", "config.json"):
        assert (out / name).stat().st_size > 1000 or name == "config.json"
    assert (out / "trajectories.gif").read_bytes()[:6] == b"GIF89a"
    assert "det = 1" in capsys.readouterr().out


def test_counterexample_other_parameters_without_gif(tmp_path) -> None:
    out = tmp_path / "ce"
    argv = ["counterexample", "--out", str(out), "--epsilon", "0.5", "--T", "4", "--h", "0.1"]
    assert main([*argv, "--y0", "1", "0", "--no-gif", "--dpi", "40"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_steps"] == 40
    assert metrics["config"]["y0"] == [1.0, 0.0]
    assert not (out / "trajectories.gif").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--h", "0.03"], "T / h must be a whole number"),
        (["--gamma", "0"], "--gamma: expected a finite number > 0"),
        (["--y0", "0", "0"], "cannot be normalised"),
        (["--frames", "0"], "--frames"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, flags, message) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["counterexample", "--out", str(tmp_path / "x"), *flags])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and err.startswith("hamnets: error:")
    assert not (tmp_path / "x").exists()  # refused before anything is written
