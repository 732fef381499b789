"""Issue 12: every bad input gets one clear line (exit 2), and nothing runs unbounded.

Each class of the issue has a test here; the property-based sweep of every command is in
``test_cli_fuzz.py``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hamnets.cli import main
from hamnets.datasets import make_toy2d, points_outside, robust_domain
from hamnets.hdnn import parse_graph


def _fails(argv, capsys, *expected: str) -> str:
    """Run the command line; it must exit 2 with one line that holds every ``expected``."""
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    for text in expected:
        assert text in err, err
    return err


def _rows(n: int = 8) -> str:
    return "".join(f"{0.1 * i},{-0.2 * i},{i % 2}\n" for i in range(n))


# -- data files ------------------------------------------------------------------------------
def test_a_header_is_recognised_and_a_bom_stripped(tmp_path):
    for name, text in (
        ("header.csv", "x1,x2,label\n" + _rows()),
        ("bom.csv", "\ufeff" + _rows()),
        ("bomheader.csv", "\ufeffx1,x2,label\n" + _rows()),
    ):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        data = make_toy2d(str(path))
        assert data.x_train.shape[0] + data.x_test.shape[0] == 8, name


def test_a_typo_in_the_first_row_is_not_taken_for_a_header(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("0.1,0.2,O\n" + _rows())
    with pytest.raises(ValueError, match=r"typo.csv:1: 'O' is not a number"):
        make_toy2d(str(path))
    path.write_text(_rows(4) + "0.5,abc,1\n" + _rows(4))
    with pytest.raises(ValueError, match=r"typo.csv:5: 'abc' is not a number"):
        make_toy2d(str(path))


def test_one_class_only_is_refused_in_the_file_and_in_each_split(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("".join(f"{i},{i},1\n" for i in range(10)))
    with pytest.raises(ValueError, match="every label is 1; a classifier needs"):
        make_toy2d(str(path))
    # both classes in the file, but a split that gets only one of them
    path.write_text("".join(f"{i},{i},1\n" for i in range(9)) + "9,9,0\n")
    with pytest.raises(ValueError, match=r"\((train|test)\): every label is 1"):
        from hamnets.training import ClassifyConfig
        from hamnets.training.classify import load_data

        load_data(ClassifyConfig(dataset=str(path), batch_size=1), torch.Generator())


def test_values_beyond_float32_are_reported_as_such_not_as_nan(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("1e308,0,0\n" + _rows())
    with pytest.raises(ValueError, match="beyond float32's range") as exc:
        make_toy2d(str(path))
    assert "NaN" not in str(exc.value) and "line 1" in str(exc.value)
    npz = tmp_path / "big.npz"
    np.savez(npz, x=np.array([[0, 0], [1e39, 1], [2, 2], [3, 3]]), y=np.array([0, 1, 0, 1]))
    with pytest.raises(ValueError, match=r"1e\+39 in sample 1 .*float32"):
        make_toy2d(str(npz))


def test_empty_csv_directory_and_non_zip_npz_get_our_own_messages(tmp_path, capsys):
    (tmp_path / "empty.csv").write_text("")
    (tmp_path / "dir.csv").mkdir()
    (tmp_path / "junk.npz").write_text("not an archive")
    out = ["--out", str(tmp_path / "r"), "--epochs", "1"]
    _fails(["classify", "--dataset", str(tmp_path / "empty.csv"), *out], capsys, "no data rows")
    _fails(["classify", "--dataset", str(tmp_path / "dir.csv"), *out], capsys, "a directory, not")
    err = _fails(
        ["classify", "--dataset", str(tmp_path / "junk.npz"), *out],
        capsys,
        "not a valid .npz archive",
    )
    assert "pickle" not in err
    assert not (tmp_path / "r").exists()


def test_the_plot_domain_ignores_an_outlier_and_counts_what_lies_outside():
    x = torch.randn(1000, 2, generator=torch.Generator().manual_seed(0))
    x[0] = torch.tensor([3e38, 0.0])
    x1min, x1max, x2min, x2max = robust_domain(x)
    assert -10 < x1min < x1max < 10 and -10 < x2min < x2max < 10
    assert points_outside(x.numpy(), (x1min, x1max, x2min, x2max)) >= 1
    # without outliers every point is inside
    y = torch.rand(500, 2, generator=torch.Generator().manual_seed(1))
    assert points_outside(y.numpy(), robust_domain(y)) == 0


# -- graphs ----------------------------------------------------------------------------------
def test_a_graph_file_with_isolated_nodes_names_them(tmp_path, capsys):
    f = tmp_path / "edges.txt"
    f.write_text("0 1\n1 2\n2 99\n")
    with pytest.raises(ValueError, match=r"node\(s\) 3\.\.98 \(96 of 100\)"):
        parse_graph(f"file:{f}")
    assert parse_graph(f"file:{f}", allow_isolated=True).n_nodes == 100
    _fails(
        ["classify", "--model", "H2", "--graph", f"file:{f}", "--out", str(tmp_path / "r")],
        capsys,
        "3..98",
        "--allow-isolated-nodes",
    )
    assert not (tmp_path / "r").exists()
    with pytest.raises(ValueError, match="at most 512"):
        parse_graph("ring:100000")


# -- sizes: caps in the parser, the memory guard, step caps ----------------------------------
@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["classify", "--nf", "100000"], "--nf 100000 is above its cap of 1024"),
        (["classify", "--layers", "1000000000"], "--layers 1000000000 is above its cap"),
        (["classify", "--seed", "99999999999999999999"], "seeds are 32-bit"),
        (["classify", "--seed", "-1"], "expected an integer >= 0"),
        (["hnn", "--hidden", "10," * 70 + "10"], "at most 64 hidden layers"),
        (["hnn", "--steps", "100000000"], "--steps 100000000 is above its cap"),
        (["classify", "--threads", "100000"], "more threads than any machine"),
        (["counterexample", "--T", "1e300", "--h", "1e-300"], "more than 10000000"),
        (["counterexample", "--frames", "100000"], "--frames 100000 is above its cap"),
    ],
)
def test_sizes_beyond_their_bounds_are_refused_with_the_reason(argv, expected, tmp_path, capsys):
    _fails([*argv, "--out", str(tmp_path / "r")], capsys, expected)
    assert not (tmp_path / "r").exists()


def test_the_memory_guard_refuses_what_cannot_fit_with_both_numbers(tmp_path, capsys):
    out = ["--out", str(tmp_path / "r")]
    err = _fails(["classify", "--nf", "100000", "--allow-large", *out], capsys, "needs about", "TB")
    assert "available" in err and "--memory-limit" in err
    _fails(["classify", "--layers", "1000000000", "--allow-large", *out], capsys, "needs about")
    # a limit below what a small run needs refuses it; the default run fits
    _fails(["classify", "--memory-limit", "0.001", *out], capsys, "is --memory-limit")
    _fails(["hnn", "--memory-limit", "0.001", *out], capsys, "needs about")
    assert not (tmp_path / "r").exists()


def test_memory_estimates_grow_with_the_sizes():
    from hamnets.training import ClassifyConfig
    from hamnets.training.classify import memory_parts
    from hamnets.training.hnn import HNNConfig
    from hamnets.training.hnn._run import memory_parts as hnn_parts
    from hamnets.training.images import ImageConfig
    from hamnets.training.images._run import memory_parts as image_parts

    small = sum(memory_parts(ClassifyConfig(), 4000, 4000).values())
    assert 1e6 < small < 1e8
    assert sum(memory_parts(ClassifyConfig(nf=100_000), 4000, 4000).values()) > 1e12
    assert sum(image_parts(ImageConfig(), (28, 28), 70_000).values()) < 2e9
    assert sum(image_parts(ImageConfig(nf=4096), (28, 28), 70_000).values()) > 1e10
    assert sum(hnn_parts(HNNConfig(), 2, 750).values()) < 1e8
    assert sum(hnn_parts(HNNConfig(hidden=(100_000, 100_000)), 2, 750).values()) > 1e11


def test_a_fixed_step_rollout_beyond_max_steps_is_refused_before_it_starts(tmp_path, capsys):
    from hamnets.training.hnn import HNNConfig

    err = _fails(
        ["hnn", "--solver", "rk4", "--dt", "1e-8", "--out", str(tmp_path / "r")],
        capsys,
        "2e+09 steps",
        "--max-steps 100000",
    )
    assert "--solver rk4" in err
    assert HNNConfig(solver="rk4", dt=1e-4, max_steps=200_000).max_steps == 200_000
    with pytest.raises(ValueError, match="more than --max-steps"):
        HNNConfig(solver="rk4", dt=1e-4)


def test_tolerances_below_float32s_resolution_are_refused(tmp_path, capsys):
    from hamnets.training.hnn import HNNConfig

    _fails(["hnn", "--rtol", "1e-300", "--out", str(tmp_path / "r")], capsys, "4 eps")
    with pytest.raises(ValueError, match="below what float32 states can resolve"):
        HNNConfig(rtol=1e-7)
    assert HNNConfig(rtol=5e-7).rtol == 5e-7


# -- --check -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "kind"),
    [
        (["classify"], "classify"),
        (["classify", "--model", "H2", "--graph", "ring:4"], "classify"),
        (["hnn", "--steps", "5"], "hnn"),
    ],
)
def test_check_prints_what_would_run_and_creates_nothing(argv, kind, tmp_path, capsys):
    out = tmp_path / "sub" / "r"
    assert main([*argv, "--check", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"check passed: would run {kind} in {out}" in printed and "of memory" in printed
    assert '"model"' in printed  # the configuration, as JSON
    assert not (tmp_path / "sub").exists()


def test_check_refuses_what_the_run_would_refuse(finished_run, tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    _fails(
        ["classify", "--check", "--out", str(tmp_path / "file.txt" / "sub")],
        capsys,
        "file.txt is a file, not a folder",
    )
    run = _copy(finished_run, tmp_path)
    _fails(["classify", "--check", "--out", str(run)], capsys, "holds a finished run")
    assert main(["classify", "--check", "--resume", str(run)]) == 0
    assert "would resume classify" in capsys.readouterr().out


def test_out_under_a_file_and_a_read_only_folder_are_one_line(tmp_path, capsys):
    import os

    (tmp_path / "file.txt").write_text("x")
    argv = ["classify", "--epochs", "1", "--layers", "2", "--quiet"]
    _fails([*argv, "--out", str(tmp_path / "file.txt" / "sub")], capsys, "is a file, not a folder")
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root ignores permissions
            pytest.skip("running as root: a read-only folder is writable")
        _fails([*argv, "--out", str(locked / "r")], capsys, "ro")
    finally:
        locked.chmod(0o700)


# -- run folders (the engine's work, checked from the command line) ---------------------------
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    """A small finished classify run (copy it before changing it)."""
    run = tmp_path_factory.mktemp("finished") / "run"
    argv = ["classify", "--epochs", "1", "--layers", "2", "--no-plots", "--quiet"]
    assert main([*argv, "--out", str(run)]) == 0
    return run


def _copy(run, tmp_path):
    import shutil

    return shutil.copytree(run, tmp_path / "run")


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 truncated", bytes(range(256)) * 3])
def test_a_broken_checkpoint_on_resume_is_one_line(content, finished_run, tmp_path, capsys):
    run = _copy(finished_run, tmp_path)
    (run / "checkpoint.pt").write_bytes(content)
    _fails(["classify", "--resume", str(run)], capsys, "checkpoint.pt")


@pytest.mark.parametrize(
    ("key", "value"), [("lr", "abc"), ("epochs", "many"), ("seed", 10**30), ("nf", 10**9)]
)
def test_a_bad_config_json_on_resume_is_one_line(key, value, finished_run, tmp_path, capsys):
    import json

    run = _copy(finished_run, tmp_path)
    stored = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps(dict(stored, **{key: value})))
    _fails(["classify", "--resume", str(run)], capsys, "config.json")


# -- HNN: a field that learned nothing ---------------------------------------------------------
def test_a_zero_field_is_degenerate_and_a_good_one_is_not():
    from torch import nn

    from hamnets.training.hnn._run import degenerate_field

    x = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    true = torch.stack([x[:, 1], -x[:, 0]], 1)  # the spring's field

    class Fixed(nn.Module):
        def __init__(self, f):
            super().__init__()
            self.f = f

        def forward(self, x):
            return self.f(x)

    assert degenerate_field(Fixed(lambda x: 0 * x), x, true)["degenerate"]
    assert degenerate_field(Fixed(lambda x: x * float("nan")), x, true)["degenerate"]
    good = degenerate_field(Fixed(lambda x: torch.stack([x[:, 1], -x[:, 0]], 1)), x, true)
    assert not good["degenerate"] and abs(good["field_rms_ratio"] - 1) < 1e-6


def test_hnn_lr_1e6_is_flagged_degenerate(tmp_path, capsys):
    import json

    out = tmp_path / "r"
    argv = ["hnn", "--lr", "1e6", "--steps", "30", "--no-baseline", "--no-plots", "--quiet"]
    assert main([*argv, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["degenerate"] is True
    captured = capsys.readouterr()
    assert "degenerate" in captured.err
    assert captured.out.index("state_mse") < captured.out.index("energy_mse")


def test_check_of_an_image_run_downloads_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HAMNETS_DATA", str(tmp_path / "cache"))
    assert main(["classify", "--dataset", "mnist", "--check", "--out", str(tmp_path / "r")]) == 0
    assert "not cached; would download" in capsys.readouterr().out
    assert not (tmp_path / "cache").exists() and not (tmp_path / "r").exists()


def test_gradients_compare_check_writes_nothing(tmp_path, capsys):
    assert main(["gradients", "--compare", "--check", "--out", str(tmp_path / "g")]) == 0
    assert "would run gradients --compare" in capsys.readouterr().out
    assert not (tmp_path / "g").exists()


def test_a_folder_that_is_not_writable_is_refused_in_one_line(tmp_path, monkeypatch, capsys):
    from hamnets.training import _folder

    monkeypatch.setattr(_folder.os, "access", lambda path, mode: False)
    _fails(["classify", "--epochs", "1", "--out", str(tmp_path / "r")], capsys, "is not writable")
    assert not (tmp_path / "r").exists()


def test_a_memory_limit_beyond_any_machine_means_no_limit(tmp_path, capsys):
    assert main(["classify", "--check", "--memory-limit", "1e308", "--out", str(tmp_path)]) == 0


def test_file_sizes_are_read_before_the_data(tmp_path, monkeypatch):
    from hamnets.datasets import _toy2d_files as _toy2d
    from hamnets.datasets import file_samples

    npz = tmp_path / "s.npz"
    np.savez_compressed(npz, x=np.zeros((50, 2)), y=np.arange(50) % 2)
    assert file_samples(npz) == 50 and _toy2d.npz_samples(tmp_path / "nope.npz") is None
    monkeypatch.setattr(_toy2d, "MAX_NPZ_SAMPLES", 10)
    with pytest.raises(ValueError, match="50 samples; at most 10"):
        make_toy2d(str(npz))
    csv = tmp_path / "s.csv"
    csv.write_text(_rows(20))
    assert file_samples(csv) == 21  # an upper bound: its lines
    monkeypatch.setattr(_toy2d, "MAX_CSV_ROWS", 10)
    with pytest.raises(ValueError, match="more than 10 rows"):
        make_toy2d(str(csv))


def test_a_gradients_file_that_is_not_an_archive_gets_our_own_line(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "gradients.npz").write_text("junk")
    err = _fails(["gradients", "--run", str(run)], capsys, "not a valid .npz archive")
    assert "pickle" not in err
    np.savez(run / "gradients.npz", iterations=np.arange(3), norms=np.array(["a", "b", "c"]))
    _fails(["gradients", "--run", str(run)], capsys, "'norms' must be numeric")
