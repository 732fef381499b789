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


def _widths(text: str) -> tuple[int, ...]:
    try:
        widths = tuple(int(w) for w in text.split(","))
    except ValueError:
        widths = ()
    if not widths or any(w < 1 for w in widths):
        raise argparse.ArgumentTypeError(
            f"--hidden takes comma-separated positive widths such as 200,200; got {text!r}"
        )
    return widths


def _add_hnn(sub) -> None:
    p = sub.add_parser(
        "hnn",
        help="learn a Hamiltonian from trajectory data (Greydanus et al. 2019; DiffEqFlux)",
        description="Fit a Hamiltonian neural network (or the MLP baseline) on a system's "
        "trajectories, roll it out from 15 initial conditions to T=20 and compare with the "
        "true solution. Writes config.json, metrics.json, history.csv, checkpoint.pt, "
        "phase.png and energy.png into --out.",
    )
    p.add_argument("--system", default="spring", help="spring|pendulum|two_body|tutorial")
    p.add_argument("--model", default="hnn", help="hnn|separable|baseline")
    p.add_argument(
        "--steps", type=int, default=None, help="Adam steps (default 2000; tutorial 1000)"
    )
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument(
        "--final-lr-fraction",
        type=float,
        default=1.0,
        help="cosine-decay the learning rate to lr * this (1 = constant, as the reference)",
    )
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="pairs per step, 0 = all (default 0; tutorial 256)",
    )
    p.add_argument("--hidden", type=_widths, default=(200, 200), help="e.g. 200,200")
    p.add_argument(
        "--solver",
        default="tsit5",
        help="tsit5|dopri5|rk4|euler|leapfrog|yoshida4|implicit_midpoint (evaluation rollouts)",
    )
    p.add_argument("--dt", type=float, default=0.01, help="step of fixed-step solvers")
    p.add_argument("--rtol", type=float, default=1e-6)
    p.add_argument("--atol", type=float, default=1e-8)
    p.add_argument(
        "--denoise",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="fit on states denoised with the clean derivatives (noise-aware; off = the paper)",
    )
    p.add_argument(
        "--trajectory-steps",
        type=int,
        default=0,
        help="steps of noise-aware trajectory fitting after derivative regression (0: off)",
    )
    p.add_argument("--trajectory-lr", type=float, default=3e-4)
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also train the MLP baseline for comparison",
    )
    p.add_argument("--eval-points", type=int, default=401, help="saved states per rollout")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    p.add_argument("--out", default=None, help="run folder (default runs/hnn_<system>_<model>)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_hnn)


def _run_hnn(args: argparse.Namespace) -> int:
    import torch
    from torch import nn

    from . import hnn, integrate, systems
    from .training import HNNConfig, RunDir, resolve_device, run_hnn

    if args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}.")
    torch.set_num_threads(args.threads)
    tutorial = args.system == "tutorial"
    config = HNNConfig(
        system=args.system,
        model=args.model,
        steps=args.steps if args.steps is not None else (1000 if tutorial else 2000),
        lr=args.lr,
        final_lr_fraction=args.final_lr_fraction,
        weight_decay=args.weight_decay,
        batch_size=args.batch_size if args.batch_size is not None else (256 if tutorial else 0),
        hidden=tuple(args.hidden),
        solver=args.solver,
        dt=args.dt,
        rtol=args.rtol,
        atol=args.atol,
        denoise=bool(args.denoise),
        trajectory_steps=args.trajectory_steps,
        trajectory_lr=args.trajectory_lr,
        compare_baseline=bool(args.baseline) and args.model != "baseline" and not tutorial,
        eval_points=args.eval_points,
        seed=args.seed,
        device=args.device,
    )
    device = resolve_device(config.device)
    truth = {
        "spring": systems.Spring,
        "tutorial": systems.Spring,
        "pendulum": systems.Pendulum,
        "two_body": systems.TwoBody,
    }[config.system]()
    dim, hidden = truth.dim, config.hidden

    def make(kind: str):
        def build(g: torch.Generator) -> nn.Module:
            if kind == "hnn":
                return hnn.HamiltonianNN(hnn.EnergyMLP(dim, hidden, generator=g))
            if kind == "separable":
                return hnn.SeparableHamiltonianNN(
                    hnn.EnergyMLP(dim // 2, hidden, generator=g),
                    hnn.EnergyMLP(dim // 2, hidden, generator=g),
                )
            return hnn.MLPField(dim, hidden, generator=g)

        return build

    if config.solver in ("tsit5", "dopri5"):
        cls = integrate.Tsit5 if config.solver == "tsit5" else integrate.Dopri5
        solver = cls(rtol=config.rtol, atol=config.atol)
    else:
        solver = {
            "rk4": integrate.RK4,
            "euler": integrate.Euler,
            "leapfrog": integrate.Leapfrog,
            "yoshida4": integrate.Yoshida4,
            "implicit_midpoint": integrate.ImplicitMidpoint,
        }[config.solver](dt=config.dt)
    if solver.needs_separable and config.model != "separable":
        raise UsageError(
            f"--solver {config.solver} steps separable Hamiltonians only (--model separable); "
            f"use implicit_midpoint or tsit5 for --model {config.model}."
        )
    run = RunDir(args.out or f"runs/hnn_{config.system}_{config.model}")
    metrics = run_hnn(
        config,
        truth=truth,
        make_model=make(config.model),
        make_baseline=make("baseline") if config.compare_baseline else None,
        solver=solver,
        baseline_solver=integrate.RK4(dt=config.dt) if solver.needs_separable else None,
        run=run,
        quiet=args.quiet,
        device=device,
    )
    keys = ("train_derivative_mse", "test_derivative_mse", "state_mse", "energy_mse")
    summary = ", ".join(f"{k}={metrics[k]:.3g}" for k in keys if k in metrics)
    print(f"hamnets hnn: {summary}; wrote {run.path}")
    return 0


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (_add_hnn,)


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
