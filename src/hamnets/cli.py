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


# -- hamnets counterexample --------------------------------------------------------------
def _add_counterexample(sub) -> None:
    p = sub.add_parser(
        "counterexample",
        help="exploding gradients of a symplectic flow (Appendix III of arXiv:2105.13205)",
        description=(
            "Integrate y' = epsilon J tanh(y) in R^2 with symplectic Euler, compute the exact "
            "backward sensitivity dy(T)/dy(T-t) for every t (one backward sweep) and its "
            "finite-difference estimate, and write metrics.json, bsm_entries.png, "
            "trajectories.png and trajectories.gif."
        ),
    )
    p.add_argument("--epsilon", type=float, default=1.0, help="flow speed (default 1)")
    p.add_argument("--h", type=float, default=0.05, help="step size; T/h whole (default 0.05)")
    p.add_argument("--T", dest="t_end", type=float, default=20.0, help="final time (default 20)")
    p.add_argument("--gamma", type=float, default=0.05, help="FD perturbation (default 0.05)")
    p.add_argument(
        "--y0", type=float, nargs=2, metavar=("Y1", "Y2"), default=None,
        help="initial state (default: the paper's, normalised)",
    )  # fmt: skip
    p.add_argument(
        "--normalize", action=argparse.BooleanOptionalAction, default=True,
        help="scale y0 to unit length, as the paper does (default: yes)",
    )  # fmt: skip
    p.add_argument(
        "--direction", type=int, choices=(1, 2), default=2,
        help="perturb y_DIRECTION in the trajectory pictures (default 2)",
    )  # fmt: skip
    p.add_argument("--frames", type=int, default=40, help="GIF frames (default 40)")
    p.add_argument(
        "--gif", action=argparse.BooleanOptionalAction, default=True,
        help="write trajectories.gif (needs pillow; default: yes)",
    )  # fmt: skip
    p.add_argument("--dpi", type=int, default=100, help="PNG resolution (default 100)")
    p.add_argument("--out", default="runs/counterexample", help="output folder")
    p.set_defaults(func=_run_counterexample)


def _run_counterexample(args: argparse.Namespace) -> int:
    import torch

    from .analysis import COUNTEREXAMPLE_Y0, CounterexampleConfig, counterexample
    from .plotting import (
        new_figure,
        plot_bsm_entries,
        plot_trajectories,
        save_figure,
        save_trajectories_gif,
    )
    from .training import RunDir

    torch.set_num_threads(1)
    if args.frames < 1:
        raise UsageError(f"--frames must be >= 1, got {args.frames}.")
    if not 20 <= args.dpi <= 600:
        raise UsageError(f"--dpi must be between 20 and 600, got {args.dpi}.")
    config = CounterexampleConfig(
        epsilon=args.epsilon,
        h=args.h,
        t_end=args.t_end,
        gamma=args.gamma,
        y0=tuple(args.y0) if args.y0 is not None else COUNTEREXAMPLE_Y0,
        normalize=args.normalize,
    )
    result = counterexample(config)
    run = RunDir(args.out)
    run.write_json("config.json", config.to_dict())
    metrics = result.metrics()
    run.write_json("metrics.json", metrics)

    fig = new_figure((7.0, 4.5))
    plot_bsm_entries(fig.add_subplot(), result.t, result.bsm, result.bsm_fd)
    fig.suptitle(rf"$\epsilon$ = {config.epsilon:g}, h = {config.h:g}, $\gamma$ = {config.gamma:g}")
    save_figure(fig, run.file("bsm_entries.png"), dpi=args.dpi)

    n = config.n_steps
    direction = torch.zeros(2, dtype=result.states.dtype)
    direction[args.direction - 1] = 1.0
    fig = new_figure((5.5, 4.8))
    plot_trajectories(
        fig.add_subplot(), result.states, result.perturbed(n, direction),
        title=f"perturbation {config.gamma:g} e{args.direction} at t = 0",
    )  # fmt: skip
    save_figure(fig, run.file("trajectories.png"), dpi=args.dpi)
    if args.gif:
        lags = sorted({round(k * n / max(1, args.frames - 1)) for k in range(args.frames)})
        runs = [result.perturbed(k, direction) for k in lags]
        save_trajectories_gif(
            run.file("trajectories.gif"), result.states, runs, [k * config.h for k in lags]
        )
    m = metrics
    print(
        f"dy(T)/dy(0) = {m['bsm']}, det = {m['determinant']:.12g}, "
        f"||.||_2 = {m['spectral_norm']:.6g}; wrote {run.path}"
    )
    return 0


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (_add_counterexample,)


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
