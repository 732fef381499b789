"""The ``hamnets`` command line: parsing only.

Each command lives in its own module with an ``add(subparsers)`` function that declares its
flags and a run function that turns the flags into one frozen configuration and calls the
library. Nothing here imports torch before a command runs (``--help`` is instant).

Exit statuses: 0 success; 2 bad input (one ``hamnets: error: ...`` line, never a traceback);
3 the run diverged (its last good checkpoint is kept); 130 interrupted by Ctrl-C (a checkpoint
was saved: continue with ``--resume``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..training._errors import Diverged, Interrupted, RunFolderError
from . import _analysis, _classify, _data, _hnn
from ._common import UsageError

__all__ = ["build_parser", "main", "UsageError"]

#: one entry per sub-command, in the order of ``--help``.
COMMANDS = (
    _classify.add,
    _hnn.add,
    _analysis.add_gradients,
    _analysis.add_counterexample,
    _data.add_data,
    _data.add_evaluate,
)


def _one_line(text: str) -> str:
    """``text`` on one line: control characters a user typed (a newline in a file name) are
    shown escaped."""
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in text)


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``--help`` shows the usage)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"hamnets: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="hamnets",
        description="Hamiltonian deep neural networks and Hamiltonian neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"hamnets {__version__}")
    sub = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_Parser
    )
    for add in COMMANDS:
        add(sub)
    return parser


def _say(line: str) -> None:
    """Print on rank 0 only (every rank of a torchrun job runs this)."""
    if os.environ.get("RANK", "0") == "0":
        print(line, file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except Interrupted as exc:
        folder = getattr(exc, "path", None)
        hint = f" Continue with: hamnets {args.command} --resume {folder}" if folder else ""
        _say(f"hamnets: {exc}; checkpoint saved.{hint}")
        return 130
    except Diverged as exc:
        folder = getattr(exc, "path", None)
        kept = f" The last good checkpoint is kept in {folder}." if folder else ""
        _say(f"hamnets: the run diverged: {exc}.{kept} Try a smaller --lr.")
        return 3
    except (UsageError, RunFolderError, ValueError, FileNotFoundError) as exc:
        message = _one_line(str(exc).strip().replace("\n", " "))
        if os.environ.get("RANK", "0") != "0":
            raise SystemExit(2) from None
        parser.exit(2, f"hamnets: error: {message}\n")
    except KeyboardInterrupt:
        _say("hamnets: interrupted")
        return 130
