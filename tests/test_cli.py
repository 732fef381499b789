"""The command line: a short run writes every file; bad input gives one clear line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from hamnets.cli import main

OUTPUTS = (
    "config.json",
    "metrics.json",
    "checkpoint.pt",
    "history.csv",
    "decision_boundary.png",
    "propagation.png",
    "propagation.gif",
)


@pytest.mark.long(3)
def test_short_classify_run_writes_every_output(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(
        [
            "classify",
            "--dataset",
            "double_moons",
            "--model",
            "H2",
            "--layers",
            "4",
            "--epochs",
            "2",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    for name in OUTPUTS:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    for key in (
        "train_accuracy",
        "test_accuracy",
        "final_loss",
        "epochs",
        "seed",
        "wall_seconds",
        "cpu_seconds",
    ):
        assert key in metrics
    assert 0.0 <= metrics["test_accuracy"] <= 1.0 and metrics["epochs"] == 2
    config = json.loads((out / "config.json").read_text())
    assert config["model"] == "H2" and config["layers"] == 4
    assert len((out / "history.csv").read_text().strip().splitlines()) == 3  # header + 2
    assert (out / "propagation.gif").read_bytes()[:3] == b"GIF"
    assert "test" in capsys.readouterr().out
    # resuming a finished run re-writes the same metrics (the pictures are checked above)
    assert main(["classify", "--resume", str(out), "--quiet", "--no-plots"]) == 0
    again = json.loads((out / "metrics.json").read_text())
    assert again["test_accuracy"] == metrics["test_accuracy"]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["classify", "--dataset", "spiral"], "swiss_roll, double_circles, double_moons"),
        (["classify", "--model", "H3"], "H1_J1, H1_J2, H2, MS1, MS2, MS3"),
        (["classify", "--model", "H2", "--nf", "5"], "even nf"),
        (["classify", "--t-end", "0"], "--t-end: expected a finite number > 0"),
        (["classify", "--resume", "/nonexistent/run"], "config.json not found"),
        (["classify", "--device", "cuda:7"], "cuda"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    if "--resume" not in argv:
        argv = [*argv, "--out", str(tmp_path / "r"), "--epochs", "1", "--quiet"]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert err.count("\n") == 1


def test_argparse_rejects_non_positive_layers(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["classify", "--layers", "0"])
    assert exc.value.code == 2
    assert "expected an integer >= 1" in capsys.readouterr().err


def test_python_dash_m_works():
    out = subprocess.run(
        [sys.executable, "-m", "hamnets", "--version"], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("hamnets ")
