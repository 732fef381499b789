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
