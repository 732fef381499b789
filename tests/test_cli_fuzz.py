"""Issue 12, as a property: whatever a user types or hands us, a command ends with exit status
0 or 2, never a traceback, and a refused command leaves nothing behind.

Each command is driven in-process (``hamnets.cli.main``) with ``--check`` (validate flags, data,
memory and run folder; train nothing) under a fresh working directory, with generated flag
values (numbers at and beyond their bounds, empty and odd strings) and data files (malformed
CSV, NPZ, edge lists, run folders). An uncaught exception fails the test: it is the traceback a
user would see. ``make test`` runs a small deterministic budget; ``make test-all`` (the slow
marker) a larger random one, and ``HAMNETS_FUZZ_EXAMPLES=N`` sets either.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
from pathlib import Path

import pytest

from hamnets.cli import main

BUDGET = int(os.environ.get("HAMNETS_FUZZ_EXAMPLES", "0"))

# -- values -------------------------------------------------------------------------------
#: numbers at and beyond the bounds of every size (the caps of hamnets.cli._common.CAPS)
EDGES = [
    "0", "1", "2", "3", "-1", "4", "14", "15", "64", "65", "1024", "1025", "10000", "10001",
    "100000", "1000000", "4294967295", "4294967296", str(2**62), str(2**63), "1" + "0" * 30,
]  # fmt: skip
FLOATS = [
    "0", "-0", "1e-320", "1e-300", "1e-9", "4.7e-7", "5e-7", "0.5", "1", "1e6", "1e30",
    "1e308", "1e309", "nan", "inf", "-inf", "-1", "3e38",
]  # fmt: skip
ODD = ["", " ", "abc", "0x10", "1,2", "1_0", "٣", "--", "-", "=", "\x00", "a" * 300, "x.csv"]
NAMES = ["swiss_roll", "double_moons", "H1_J1", "H2", "MS3", "MLP", "logistic", "hnn",
         "separable", "baseline", "rk4", "tsit5", "leapfrog", "euler", "spring", "tutorial",
         "two_body", "even", "none", "paper", "joint", "cpu", "cuda", "cuda:7", "ring:4",
         "ring:2", "grid:2x2", "grid:0x3", "full:600", "file:edges.txt", "file:gap.txt",
         "file:missing.txt", "file:dir.csv"]  # fmt: skip
FILES = ["good.csv", "empty.csv", "bom.csv", "typo.csv", "oneclass.csv", "big.csv",
         "binary.csv", "dir.csv", "junk.npz", "good.npz", "gen.csv", "gen.npz", "nope.csv",
         "mnist"]  # fmt: skip

#: flags the sweep never gives: they would reach the network or print help and exit
NEVER = {"--help", "--version", "--network", "--check"}


def _options(command: str) -> list[tuple[str, int]]:
    """Every flag of ``command`` with the number of values it takes, read from the parser:
    a flag added by any issue is swept as soon as it lands."""
    import argparse

    from hamnets.cli import build_parser

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for action in sub.choices[command]._actions:
        for option in action.option_strings:
            if option.startswith("--") and option not in NEVER:
                nargs = action.nargs
                count = 1 if nargs in (None, "?", "+", "*") else int(nargs)
                out.append((option, count))
    return sorted(out)


def _value():
    from hypothesis import strategies as st

    return st.one_of(
        st.sampled_from(EDGES + FLOATS + ODD + NAMES + FILES),
        st.integers(-(10**20), 10**20).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.text(max_size=12),
    )


def _flags(command: str, drop: tuple[str, ...] = ()):
    """Up to four flags of ``command`` (the ``drop``-ped ones left out), each with as many
    generated values as it takes."""
    from hypothesis import strategies as st

    value = _value()
    options = [o for o in _options(command) if o[0] not in drop]
    item = st.sampled_from(options).flatmap(
        lambda o: st.lists(value, min_size=o[1], max_size=o[1]).map(lambda vs: [o[0], *vs])
    )
    return st.lists(item, max_size=4).map(lambda xs: [a for x in xs for a in x])


# -- the files a user might hand us --------------------------------------------------------
def _write_files(root: Path, csv_text: bytes, npz_bytes: bytes, config: bytes) -> None:
    import numpy as np

    rows = "".join(f"{0.1 * i},{-0.05 * i},{i % 2}\n" for i in range(40))
    (root / "good.csv").write_text("x1,x2,label\n" + rows)
    (root / "empty.csv").write_text("")
    (root / "bom.csv").write_bytes(b"\xef\xbb\xbf" + rows.encode())
    (root / "typo.csv").write_text("0.1,0.2,O\n" + rows)
    (root / "oneclass.csv").write_text("".join(f"{i},{i},1\n" for i in range(20)))
    (root / "big.csv").write_text("1e308,0,0\n" + rows)
    (root / "binary.csv").write_bytes(bytes(range(256)))
    (root / "dir.csv").mkdir()
    (root / "junk.npz").write_text("not an archive")
    np.savez(root / "good.npz", x=np.random.default_rng(0).normal(size=(40, 2)),
             y=np.arange(40) % 2)  # fmt: skip
    (root / "gen.csv").write_bytes(csv_text)
    (root / "gen.npz").write_bytes(npz_bytes)
    (root / "edges.txt").write_text("0 1\n1 2\n2 3\n3 0\n")
    (root / "gap.txt").write_text("0 1\n1 2\n2 99\n")
    run = root / "genrun"  # a run folder with a generated config.json and a broken checkpoint
    run.mkdir()
    (run / "config.json").write_bytes(config)
    (run / "checkpoint.pt").write_bytes(b"PK\x03\x04" + csv_text[:50])
    (run / "gradients.npz").write_bytes(npz_bytes)


def _listing(root: Path) -> set[str]:
    """Every path under ``root`` but a resumed folder's lock file (a run folder has one once
    it has been opened; the lock itself is released)."""
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.name != ".lock"}


def _drive(argv: list[str], csv_text: bytes, npz_bytes: bytes, config: bytes) -> None:
    """Run ``argv`` in a fresh folder; exit 0 or 2, no traceback, nothing left behind."""
    import torch

    old_cwd, old_env, threads = os.getcwd(), dict(os.environ), torch.get_num_threads()
    with tempfile.TemporaryDirectory(prefix="hamnets-fuzz-") as tmp:
        root = Path(tmp)
        _write_files(root, csv_text, npz_bytes, config)
        before = _listing(root)
        os.chdir(root)
        os.environ["HAMNETS_DATA"] = str(root / "cache")  # no image set: nothing downloaded
        err, out = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                try:
                    code = main(argv)
                except SystemExit as exc:
                    code = exc.code
        finally:
            torch.set_num_threads(threads)  # --threads must not slow the tests that follow
            os.chdir(old_cwd)
            os.environ.clear()
            os.environ.update(old_env)
        assert code in (0, 2), (argv, code, err.getvalue())
        assert "Traceback" not in err.getvalue(), (argv, err.getvalue())
        if code == 2:
            assert err.getvalue().startswith("hamnets: error: "), (argv, err.getvalue())
            assert err.getvalue().count("\n") == 1, (argv, err.getvalue())
        # --check creates nothing, and a refused command leaves nothing behind
        if code == 2 or "--check" in argv:
            assert _listing(root) == before, (argv, _listing(root) - before)


def _strategies():
    """The generated inputs: (command line, CSV text, NPZ bytes, config.json bytes).

    Built on first use, so that only the worker that runs the sweep imports hypothesis
    (about 1 s with pytest's assertion rewriting of its modules)."""
    from hypothesis import strategies as st

    csv_text = st.one_of(
        st.binary(max_size=200),
        st.lists(
            st.lists(st.sampled_from(EDGES + FLOATS + ODD[:8]), min_size=1, max_size=4).map(
                ",".join
            ),
            max_size=12,
        ).map(lambda rows: "\n".join(rows).encode("utf-8", "replace")),
    )
    npz_bytes = st.one_of(st.binary(max_size=100), st.just(b"PK\x03\x04" + b"\x00" * 40))
    config_json = st.one_of(
        st.binary(max_size=60),
        st.dictionaries(
            st.sampled_from(
                [
                    "lr",
                    "layers",
                    "nf",
                    "seed",
                    "epochs",
                    "dataset",
                    "model",
                    "steps",
                    "format",
                    "hidden",
                    "colour",
                ]
            ),
            st.one_of(
                st.integers(-(10**30), 10**30),
                st.floats(),
                st.text(max_size=5),
                st.none(),
                st.lists(st.integers(), max_size=3),
            ),
            max_size=4,
        ).map(lambda d: json.dumps(d).encode()),
    )

    #: every command, each with the flags it takes (and some it does not)
    commands = st.one_of(
        st.tuples(st.just(["classify", "--check"]), _flags("classify")),
        st.tuples(
            st.just(["classify", "--check", "--dataset", "mnist", "--no-download"]),
            _flags("classify", drop=("--dataset",)),
        ),
        st.tuples(st.just(["hnn", "--check", "--steps", "5"]), _flags("hnn")),
        st.tuples(  # the data files, with the flags around them
            st.sampled_from([f for f in FILES if f != "mnist"]).map(
                lambda f: ["classify", "--check", "--dataset", f, "--batch-size", "2"]
            ),
            _flags("classify", drop=("--dataset",)),
        ),
        st.tuples(
            st.just(["counterexample", "--no-gif", "--dpi", "20", "--T", "2", "--h", "0.05"]),
            _flags("counterexample", drop=("--T", "--h", "--gif")),  # bounded work only
        ),
        st.tuples(st.just(["data", "mnist", "--no-network"]), _flags("data")),
        st.tuples(
            st.just(["gradients", "--compare", "--check"]),
            _flags("gradients", drop=("--run", "--compare")),
        ),
        st.tuples(
            st.sampled_from(
                [
                    ["classify", "--check", "--resume", "genrun"],
                    ["hnn", "--check", "--resume", "genrun"],
                    ["evaluate", "genrun"],
                    ["gradients", "--run", "genrun"],
                    ["classify", "--check", "--resume", "nowhere"],
                ]
            ),
            st.just([]),
        ),
    ).map(lambda t: [*t[0], *t[1]])
    return commands, csv_text, npz_bytes, config_json


def _property(examples: int, derandomize: bool):
    from hypothesis import HealthCheck, given, settings

    commands, csv_text, npz_bytes, config_json = _strategies()

    @settings(
        max_examples=BUDGET or examples,
        deadline=None,
        derandomize=derandomize,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(argv=commands, csv=csv_text, npz=npz_bytes, config=config_json)
    def check(argv, csv, npz, config):
        _drive(argv, csv, npz, config)

    return check


@pytest.mark.long(2)
def test_every_command_exits_0_or_2_without_a_traceback():
    _property(40, derandomize=True)()


@pytest.mark.slow
def test_every_command_exits_0_or_2_without_a_traceback_at_length():
    _property(400, derandomize=False)()
