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


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def _set_threads(threads: int | None, default: int) -> None:
    import torch

    torch.set_num_threads(threads or default)


# -- classify ----------------------------------------------------------------------------------
def _add_classify(sub: argparse._SubParsersAction) -> None:
    from .training import PROTOCOLS, ClassifyConfig

    d = ClassifyConfig()
    p = sub.add_parser(
        "classify",
        help="train an H-DNN classifier on a 2D data set",
        description="Train an H-DNN on swiss_roll, double_circles, double_moons or your own "
        "2D data (.csv with x1,x2,label or .npz with x, y). Writes config.json, metrics.json, "
        "checkpoint.pt, history.csv, decision_boundary.png, propagation.png/.gif to --out.",
    )
    p.add_argument(
        "--dataset",
        default=d.dataset,
        help="swiss_roll, double_circles, double_moons, or a .csv/.npz file",
    )
    p.add_argument("--model", default=d.model, help="H1_J1, H1_J2, H2, MS1, MS2 or MS3")
    p.add_argument(
        "--layers",
        type=_positive_int,
        default=None,
        help=f"number of layers L (default {d.layers}; with --graph 4)",
    )
    p.add_argument(
        "--t-end",
        type=float,
        default=None,
        help=f"final time T, h = T / L (default {d.t_end:g}; with --graph 0.5 L)",
    )
    p.add_argument(
        "--nf",
        type=_positive_int,
        default=None,
        help=f"number of features (default {d.nf}; with --graph 2 x nodes)",
    )
    p.add_argument(
        "--input-features",
        type=int,
        nargs=2,
        default=None,
        metavar=("I", "J"),
        help="features that carry x1 and x2 (default: 0 and nf-1; with --graph of n nodes: "
        "p of node 0 and q of node n/2, i.e. 0 and 12 for ring:8)",
    )
    p.add_argument(
        "--graph",
        default=None,
        metavar="SPEC",
        help="graph-structured (distributed) H2: ring:N, line:N, grid:RxC, full:N or "
        "file:PATH (one 'i j' edge per line); node i owns features i (p) and n+i (q)",
    )
    p.add_argument("--epochs", type=_positive_int, default=d.epochs)
    p.add_argument("--batch-size", type=_positive_int, default=d.batch_size)
    p.add_argument("--lr", type=float, default=d.lr, help="Adam learning rate")
    p.add_argument("--alpha", type=float, default=d.alpha, help="smoothness regulariser weight")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default=d.protocol,
        help="paper: the reference procedure; joint: end-to-end training (default)",
    )
    p.add_argument("--device", default=d.device, help="cpu, cuda or cuda:N")
    p.add_argument(
        "--threads",
        type=_positive_int,
        default=None,
        help="torch CPU threads (default 1: fastest for these small matrices)",
    )
    p.add_argument("--out", default=None, help="run folder (default runs/<dataset>_<model>)")
    p.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue the interrupted run in DIR (other flags are ignored)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_classify)


def _shape_defaults(
    args: argparse.Namespace,
) -> tuple[int, int, float, tuple[int, int] | None]:
    """nf, L, T and the input features: the flags, else the defaults of the case.

    Without ``--graph``: :class:`ClassifyConfig`'s defaults. With ``--graph`` of n nodes: the
    reference's distributed example (Galimberti et al., ring of 8): nf = 2 n, L = 4, h = 0.5
    (T = 0.5 L), x1 into p of node 0 (feature 0), x2 into q of node n/2 (feature n + n/2).
    """
    from .hdnn import parse_graph
    from .training import ClassifyConfig

    inputs = tuple(args.input_features) if args.input_features else None
    if args.graph is None:
        d = ClassifyConfig()
        return (
            d.nf if args.nf is None else args.nf,
            d.layers if args.layers is None else args.layers,
            d.t_end if args.t_end is None else args.t_end,
            inputs,
        )
    n = parse_graph(args.graph).n_nodes
    layers = 4 if args.layers is None else args.layers
    return (
        2 * n if args.nf is None else args.nf,
        layers,
        0.5 * layers if args.t_end is None else args.t_end,
        (0, n + n // 2) if inputs is None else inputs,
    )


def _run_classify(args: argparse.Namespace) -> int:
    from .training import ClassifyConfig, Interrupted, Parallel, RunDir, fit_classifier
    from .training._report import write_classify_outputs

    _set_threads(args.threads, 1)
    parallel = Parallel.from_env()  # under torchrun: one rank of a data-parallel job
    if args.resume:
        run = RunDir(args.resume)
        config = ClassifyConfig.from_dict(run.read_json("config.json"))
    else:
        nf, layers, t_end, inputs = _shape_defaults(args)
        config = ClassifyConfig(
            dataset=args.dataset,
            model=args.model,
            nf=nf,
            layers=layers,
            t_end=t_end,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            alpha=args.alpha,
            seed=args.seed,
            protocol=args.protocol,
            device=args.device,
            input_features=inputs,
            graph=args.graph,
        )
        run = RunDir(args.out or f"runs/{config.dataset}_{config.model}")
        if parallel.is_main:
            run.write_json("config.json", config)
    try:
        result = fit_classifier(
            config, run, resume=bool(args.resume), quiet=args.quiet, parallel=parallel
        )
    except Interrupted as exc:
        print(
            f"hamnets: {exc}; checkpoint saved. Continue with: "
            f"hamnets classify --resume {run.path}",
            file=sys.stderr,
        )
        return 130
    if not parallel.is_main:  # only rank 0 writes and reports
        return 0
    write_classify_outputs(result, run)
    m = result.metrics
    print(
        f"{config.model} on {config.dataset} ({config.protocol} protocol): "
        f"train {m['train_accuracy']:.2%}, test {m['test_accuracy']:.2%}, "
        f"{m['cpu_seconds']:.1f} s CPU -> {run.path}"
    )
    return 0


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (_add_classify,)


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
