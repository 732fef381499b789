"""The command line and the run-folder contract: divergence, concurrent runs, resume flags,
flags that do not apply, and a ``--help`` that needs no torch."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from hamnets.cli import main
from hamnets.training import RunDir

SMALL = ["--dataset", "double_moons", "--layers", "2", "--epochs", "1", "--quiet", "--no-plots"]


def test_lr_1e30_exits_3_and_keeps_a_finite_checkpoint(tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["classify", *SMALL, "--lr", "1e30", "--out", str(out)])
    assert code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "diverged" in err and "smaller --lr" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "diverged" and metrics["step"] >= 1
    ckpt = RunDir(out).load_checkpoint()
    weights = list(ckpt["task"]["model"].values())
    assert weights and all(bool(torch.isfinite(w).all()) for w in weights)


def test_resume_refuses_a_flag_that_changes_the_run_and_accepts_one_that_does_not(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["classify", *SMALL, "--out", str(out)]) == 0
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(["classify", "--resume", str(out), "--layers", "32", "--model", "H2"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--layers 2 (given: 32)" in err and "--model H1_J1 (given: H2)" in err
    assert main(["classify", "--resume", str(out), "--threads", "2", "--device", "cpu",
                 "--quiet", "--no-plots"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stages", "5"], "--stages does not apply to 2D data sets"),
        (["--gamma", "0.1"], "--gamma does not apply to 2D data sets"),
        (["--shift", "3"], "--shift does not apply to 2D data sets"),
        (["--weight-decay", "nan"], "--weight-decay does not apply to 2D data sets"),
    ],
)
def test_image_flags_on_2d_data_are_refused(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["classify", *SMALL, *argv, "--out", str(tmp_path / "r")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "r").exists()


@pytest.mark.long(4)
def test_two_runs_into_one_folder_at_once_one_is_refused_the_other_completes(tmp_path, capsys):
    """The first run is another process (``python -m hamnets``); the second, started here
    once the first has written its config.json (``main`` in this process: no second start
    of torch), is refused with one line while the first goes on to finish."""
    out = tmp_path / "run"
    argv = ["classify", *SMALL, "--epochs", "10", "--out", str(out)]
    first = subprocess.Popen([sys.executable, "-m", "hamnets", *argv], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.time() + 60
    while not (out / "config.json").exists() and time.time() < deadline:
        time.sleep(0.05)
    capsys.readouterr()
    with pytest.raises(SystemExit) as second:
        main(argv)
    err2 = capsys.readouterr().err
    out1, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.value.code == 2
    assert err2.startswith("hamnets: error:") and err2.count("\n") == 1
    assert f"process {first.pid}" in err2 or "holds" in err2
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["status"] == "finished" and metrics["epochs"] == 10


def test_without_out_each_run_takes_a_fresh_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["classify", "--dataset", "double_moons", "--layers", "2", "--epochs", "1",
            "--quiet", "--no-plots"]  # fmt: skip
    assert main(argv) == 0 and main(argv) == 0
    printed = capsys.readouterr().out
    assert "runs/double_moons_H1_J1\n" in printed and "runs/double_moons_H1_J1_2\n" in printed
    assert sorted(p.name for p in Path("runs").iterdir()) == [
        "double_moons_H1_J1",
        "double_moons_H1_J1_2",
    ]


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from hamnets.cli import main\n"
        "try:\n"
        "    main(['classify', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "--resume" in out.stdout and "--overwrite" in out.stdout


def test_a_resumed_image_flag_on_a_2d_run_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["classify", *SMALL, "--out", str(out)]) == 0
    with pytest.raises(SystemExit) as exc:
        main(["classify", "--resume", str(out), "--stages", "2"])
    assert exc.value.code == 2
    assert "--stages does not apply" in capsys.readouterr().err


def test_counterexample_takes_fresh_folders_and_refuses_an_existing_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    argv = ["counterexample", "--T", "1", "--no-gif", "--dpi", "30"]
    assert main(argv) == 0 and main(argv) == 0
    assert sorted(p.name for p in Path("runs").iterdir()) == ["counterexample", "counterexample_2"]
    before = (Path("runs/counterexample") / "metrics.json").read_bytes()
    with pytest.raises(SystemExit) as exc:
        main([*argv, "--out", "runs/counterexample"])
    assert exc.value.code == 2
    assert (Path("runs/counterexample") / "metrics.json").read_bytes() == before
    assert main([*argv, "--out", "runs/counterexample", "--overwrite"]) == 0


def test_hnn_lr_1e30_exits_3(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["hnn", "--system", "tutorial", "--hidden", "8", "--steps", "20", "--lr", "1e30"]
    assert main([*argv, "--quiet", "--no-plots", "--out", str(out)]) == 3
    assert "diverged" in capsys.readouterr().err
    assert json.loads((out / "metrics.json").read_text())["status"] == "diverged"
