"""``hamnets hnn``: flags -> :class:`~hamnets.training.hnn.HNNConfig` -> ``run_hnn``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ._common import (
    RUN_FLAGS,
    UsageError,
    add_run_flags,
    check_caps,
    config_for,
    flag,
    given,
    nonnegative_int,
    positive_float,
    positive_int,
    print_plan,
    run_options,
    seed,
    set_threads,
)

#: flags whose configuration field has another name
FIELDS = {"baseline": "compare_baseline"}


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


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "hnn",
        argument_default=argparse.SUPPRESS,
        help="learn a Hamiltonian from trajectory data (Greydanus et al. 2019; DiffEqFlux)",
        description="Fit a Hamiltonian neural network (or the MLP baseline) on a system's "
        "trajectories, roll it out from 15 initial conditions to T=20 and compare with the "
        "true solution. Writes config.json, metrics.json, history.csv, checkpoint.pt, "
        "phase.png and energy.png into the run folder. The port-Hamiltonian systems "
        "(damped, driven, time-dependent; --model port) are rolled out under inputs that "
        "training never saw and write energy_balance.png instead of energy.png.",
    )
    p.add_argument(
        "--system",
        help="spring (default), pendulum, two_body or tutorial; port-Hamiltonian: "
        "damped_spring, forced_pendulum, mass_spring_damper or parametric_spring (each with "
        "its own recipe of defaults, see docs/port.md)",
    )
    p.add_argument(
        "--model",
        help="hnn (default), separable or baseline; for a port system port (learned H, "
        "damping and input ports), hnn (conservative) or baseline (an MLP of x, u, t)",
    )
    p.add_argument("--steps", type=positive_int, help="Adam steps (default 2000; tutorial 1000)")
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (default 1e-3)")
    p.add_argument(
        "--final-lr-fraction",
        type=float,
        help="cosine-decay the learning rate to lr * this (default 1 = constant, as the reference)",
    )
    p.add_argument("--weight-decay", type=float, help="Adam weight decay (default 1e-4)")
    p.add_argument(
        "--structure-lr",
        type=positive_float,
        help="port systems: learning rate of the learned dissipation and input matrix "
        "(default 1e-2)",
    )
    p.add_argument(
        "--batch-size",
        type=nonnegative_int,
        help="pairs per step, 0 = all (default 0; tutorial 256)",
    )
    p.add_argument(
        "--energy",
        help="port systems: full (an MLP of the whole state), separable (T(p) + V(q), the "
        "mechanical prior), quadratic or separable_quadratic (plus a learned quadratic form; "
        "default: the system's recipe)",
    )
    p.add_argument("--hidden", type=_widths, help="hidden widths (default 200,200)")
    p.add_argument(
        "--activation",
        help="tanh (default), relu, gelu or softplus: the hidden layers' activation (the "
        "field is the energy's gradient: relu makes it piecewise constant)",
    )
    p.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        help="a fresh random batch order every pass (default: yes; --no-shuffle: in the "
        "data's order, as Julia's DataLoader)",
    )
    p.add_argument(
        "--preset",
        help="none (default) or diffeqflux: the DiffEqFlux tutorial exactly as written "
        "(--system tutorial --hidden 1028 --activation relu --lr 0.01 --weight-decay 0 "
        "--steps 2000 --batch-size 256 --no-shuffle --rtol 1e-3 --atol 1e-6); flags given "
        "override it",
    )
    p.add_argument(
        "--symmetry",
        help="none (default), even, time_reversal or periodic: make the learned H exactly "
        "invariant under x -> -x, p -> -p or q -> q + 2 pi (periodic: the positions are "
        "angles, H reads cos q, sin q; a prior about the system; hnn and separable models, "
        "and periodic for port systems)",
    )
    p.add_argument(
        "--solver",
        help="tsit5 (default), dopri5, rk4, euler, leapfrog, yoshida4 or implicit_midpoint "
        "(evaluation rollouts)",
    )
    p.add_argument("--dt", type=positive_float, help="step of fixed-step solvers (default 0.01)")
    p.add_argument(
        "--max-steps",
        type=positive_int,
        help="the most steps of one fixed-step rollout, ceil(T / dt) (default 100000)",
    )
    p.add_argument("--rtol", type=positive_float, help="adaptive solvers, >= 4.8e-7 (default 1e-6)")
    p.add_argument("--atol", type=positive_float, help="adaptive solvers (default 1e-8)")
    p.add_argument(
        "--denoise",
        action=argparse.BooleanOptionalAction,
        help="fit on states denoised with the clean derivatives (noise-aware; default off = "
        "the paper)",
    )
    p.add_argument(
        "--trajectory-steps",
        type=nonnegative_int,
        help="steps of noise-aware trajectory fitting after derivative regression (default 0)",
    )
    p.add_argument("--trajectory-lr", type=positive_float, help="its learning rate (default 3e-4)")
    p.add_argument(
        "--baseline",
        action=argparse.BooleanOptionalAction,
        help="also train the MLP baseline for comparison (default: yes)",
    )
    p.add_argument(
        "--baseline-solver",
        help="solver of the baseline's rollouts (default auto: --solver, or rk4 when that "
        "steps separable Hamiltonians only)",
    )
    p.add_argument(
        "--eval-points", type=positive_int, help="saved states per rollout (default 401)"
    )
    p.add_argument(
        "--seed", type=seed, help="seeds data, initialisation and batches, 0 to 2^32-1 (default 0)"
    )
    p.add_argument(
        "--plots", action=argparse.BooleanOptionalAction, help="write the pictures (default: yes)"
    )
    g = add_run_flags(p, name="hnn_<system>_<model>")
    g.add_argument(
        "--checkpoint-every",
        type=nonnegative_int,
        metavar="STEPS",
        help="steps between two checkpoints (default 500; 0: only at the end and on Ctrl-C)",
    )
    p.set_defaults(func=run)


def _flag(name: str) -> str:
    inverse = {v: k for k, v in FIELDS.items()}
    return "--baseline/--no-baseline" if name in inverse else flag(name)


def _fill(settings: dict[str, Any]) -> dict[str, Any]:
    """The defaults of a new run: the preset's values first (a flag given wins), then the
    defaults that depend on the system and model (the tutorial's are its own)."""
    from ..training.hnn import PRESETS

    preset = settings.get("preset", "none")
    if preset not in PRESETS:
        raise UsageError(f"--preset {preset!r} is not known; choose one of {', '.join(PRESETS)}.")
    for name, value in PRESETS[preset].items():
        settings.setdefault(name, value)
    if settings.get("system") == "tutorial":
        settings.setdefault("steps", 1000)
        settings.setdefault("batch_size", 256)
    from ..training.hnn import SYSTEMS, HNNConfig

    entry = SYSTEMS.get(settings.get("system", "spring"))
    for name in ("structure_lr", "energy"):
        if name in settings and entry is not None and not entry.port:
            raise UsageError(f"{flag(name)} applies to the port systems only; drop it.")
    model = settings.get("model", HNNConfig.model)
    for name, value in (entry.recipe(model) if entry is not None else {}).items():
        settings.setdefault(name, value)  # a port system's recipe
    return settings


def run(args: argparse.Namespace) -> int:
    flags = given(args)
    set_threads(flags)  # (before torch and numpy are imported)
    from ..training import Parallel
    from ..training.hnn import HNNConfig, run_hnn

    settings = {FIELDS.get(k, k): v for k, v in flags.items() if k not in RUN_FLAGS}
    config = config_for(
        HNNConfig, settings, resume=flags.get("resume"), what="hnn", fill=_fill, flag_of=_flag
    )
    check_caps(flags, _flag)  # once every flag is known to apply
    parallel = Parallel.from_env()  # under torchrun: one rank of a data-parallel job
    result = run_hnn(config, run_options(flags), parallel=parallel)
    if result.metrics.get("status") == "checked":
        if parallel.is_main:
            print_plan(result.metrics)
        return 0
    if parallel.is_main:  # only rank 0 evaluates and reports
        metrics = result.metrics
        # the rollout's state error first: a field that does not move conserves every energy
        keys = (
            "state_mse",
            "energy_mse",
            "dissipation_relative_error",
            "energy_balance_residual",
            "train_derivative_mse",
            "test_derivative_mse",
        )
        summary = ", ".join(f"{k}={metrics[k]:.3g}" for k in keys if k in metrics)
        print(f"hamnets hnn: {summary}; wrote {result.run.path if result.run else '(nothing)'}")
        if metrics.get("degenerate"):
            ratio = metrics.get("field_rms_ratio")
            print(
                f"hamnets hnn: warning: the learned field is degenerate (RMS {ratio:.3g} of "
                f"the true field's, or not finite): a rollout that does not move conserves "
                f"every energy, so the energy metrics mean nothing. Try a smaller --lr.",
                file=sys.stderr,
            )
    return 0
