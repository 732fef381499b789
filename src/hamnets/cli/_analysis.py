"""``hamnets gradients`` and ``hamnets counterexample``: the gradient analyses.

Both write into a run folder by the same rules as training: a fresh ``runs/NAME``,
``runs/NAME_2``, ... without ``--out``, and a folder holding a run is refused unless
``--overwrite``. ``gradients --run DIR`` adds its plot to that run (a derived file).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import UsageError, check_caps, flag, given, positive_float, positive_int, seed


def _add_out(p: argparse.ArgumentParser, name: str) -> None:
    p.add_argument(
        "--out",
        metavar="DIR",
        help=f"output folder (default: a fresh runs/{name}, runs/{name}_2, ...)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace the results in --out (hamnets only)"
    )
    p.add_argument(
        "--allow-large",
        action="store_true",
        help="lift the caps on sizes (see docs/cli.md; the memory guard still applies)",
    )
    p.add_argument(
        "--memory-limit",
        type=positive_float,
        metavar="GB",
        help="memory the command may use, in GB (default: what the machine has available)",
    )


# -- gradients ---------------------------------------------------------------------------------
def add_gradients(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "gradients",
        argument_default=argparse.SUPPRESS,
        help="plot BSM norms: of a run (--run) or MLP versus H-DNNs against depth (--compare)",
        description="--run DIR re-plots DIR/gradient_norms.png from the gradients.npz of "
        "`hamnets classify --track-gradients`. --compare trains the MLP baseline and each "
        "H-DNN on one data set and plots ||dy_L/dy_j|| against j at initialisation and after "
        "training (depth_comparison.png, depth_comparison.json in the output folder).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", metavar="DIR", help="a run folder with gradients.npz")
    what.add_argument("--compare", action="store_true", help="the depth comparison")
    p.add_argument(
        "--models",
        nargs="+",
        metavar="NAME",
        help="networks to compare (default: MLP H1_J1 H1_J2 H2 MS1 MS2 MS3; also the "
        "dissipative pH1_J1 pH1_J2)",
    )
    p.add_argument("--dataset", help="--compare: toy set or file (default swiss_roll)")
    p.add_argument("--layers", type=positive_int, help="--compare: layers L (default 16)")
    p.add_argument("--t-end", type=positive_float, help="--compare: final time T (default 1.2)")
    p.add_argument("--nf", type=positive_int, help="--compare: features (default 4)")
    p.add_argument("--epochs", type=positive_int, help="--compare: epochs (default 100)")
    p.add_argument("--seed", type=seed, help="--compare: seed, 0 to 2^32-1 (default 0)")
    p.add_argument("--device", help="--compare: cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument(
        "--check",
        action="store_true",
        help="--compare: validate the flags, the data, the memory and the output folder, print "
        "what would run, and stop before training (nothing is written)",
    )
    _add_out(p, "gradients")
    p.set_defaults(func=run_gradients)


def run_gradients(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    flags = given(args)
    if "run" in flags:
        return _replot(flags)
    return _compare(flags)


def _replot(flags: dict[str, Any]) -> int:
    from pathlib import Path

    from ..analysis import load_gradients
    from ..plotting import gradient_norms_figure
    from ..training import RunDir, RunLock

    extra = [k for k in flags if k not in ("run", "out", "allow_large", "memory_limit", "check")]
    if extra:
        raise UsageError(f"{flag(extra[0])} goes with --compare, not with --run.")
    if not Path(flags["run"]).is_dir():
        raise UsageError(f"--run {flags['run']} is not a folder; pass a classify run folder.")
    source = RunDir(flags["run"])
    data = load_gradients(source.path / "gradients.npz")
    target = flags.get("out", flags["run"])
    with RunLock(target):  # not while a run writes there
        out = RunDir(target)
        title = f"{data['model']} on {data['dataset']}" if "model" in data else None
        fig = gradient_norms_figure(data["iterations"], data["norms"], title=title)
        path = out.write_figure("gradient_norms.png", fig, dpi=100)
    print(f"wrote {path}")
    return 0


def _compare(flags: dict[str, Any]) -> int:
    from ..plotting import new_figure, plot_depth_profiles
    from ..training import ClassifyConfig, claim_run_folder, compare_depth_profiles

    keys = ("dataset", "layers", "t_end", "nf", "epochs", "seed", "device")
    config = ClassifyConfig(**{k: flags[k] for k in keys if k in flags})
    check_caps(flags)
    models = flags.get("models")
    kwargs = {} if models is None else {"models": models}
    if models is not None:  # refused before anything is trained or written
        from ..training.classify import COMPARE_MODELS

        unknown = [m for m in models if m not in COMPARE_MODELS]
        if unknown:
            raise UsageError(
                f"--models {' '.join(unknown)}: choose from {', '.join(COMPARE_MODELS)}."
            )
    from ..training import check_memory
    from ..training.classify import load_data, memory_parts, seeded_generators

    data = load_data(config, seeded_generators(config.seed)["data"])  # refused before training
    parts = memory_parts(config, data.x_train.shape[0], data.x_test.shape[0])
    limit = flags["memory_limit"] * 1e9 if "memory_limit" in flags else None
    memory = check_memory(parts, device=config.device, limit=limit, hint="--nf or --layers")
    if flags.get("check"):
        from ..training._folder import plan_run_folder
        from ._common import print_plan

        folder = plan_run_folder(
            flags.get("out"), "gradients", overwrite=flags.get("overwrite", False)
        )
        print_plan({"config": config.to_dict(), "kind": "gradients --compare",
                    "folder": str(folder), "memory": memory})  # fmt: skip
        return 0
    out, lock = claim_run_folder(
        flags.get("out"), "gradients", overwrite=flags.get("overwrite", False)
    )
    with lock:
        out.write_json("config.json", config.to_dict())
        profiles = compare_depth_profiles(config, quiet=flags.get("quiet", False), **kwargs)
        out.write_json(
            "depth_comparison.json",
            {
                "config": config.to_dict(),
                "profiles": {
                    p.model: {
                        "initial": p.initial.tolist(),
                        "trained": p.trained.tolist(),
                        "test_accuracy": p.test_accuracy,
                    }
                    for p in profiles
                },
            },
        )
        fig, axes = new_figure(1, 2, size=(4.6, 3.8))
        from ..hdnn import DISSIPATIVE_NAMES

        styles = {"MLP": {"color": "k", "lw": 2.2}, **{m: {"ls": "--"} for m in DISSIPATIVE_NAMES}}
        for ax, when in zip(axes[0], ("initial", "trained"), strict=True):
            plot_depth_profiles(ax, {p.model: getattr(p, when) for p in profiles}, styles=styles)
            ax.set_title("at initialisation" if when == "initial" else "after training")
        fig.suptitle(f"{config.dataset}, L = {config.layers}, T = {config.t_end:g}")
        out.write_figure("depth_comparison.png", fig, dpi=90)
    for p in profiles:
        print(
            f"{p.model:6s} ||dy_L/dy_0||: init {p.initial[0]:.3g}, trained {p.trained[0]:.3g}; "
            f"test {p.test_accuracy:.2%}"
        )
    print(f"wrote {out.path}")
    return 0


# -- counterexample ------------------------------------------------------------------------------
def add_counterexample(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "counterexample",
        argument_default=argparse.SUPPRESS,
        help="exploding gradients of a symplectic flow (Appendix III of arXiv:2105.13205)",
        description=(
            "Integrate y' = epsilon J tanh(y) in R^2 with symplectic Euler, compute the exact "
            "backward sensitivity dy(T)/dy(T-t) for every t (one backward sweep) and its "
            "finite-difference estimate, and write metrics.json, bsm_entries.png, "
            "trajectories.png and trajectories.gif."
        ),
    )
    p.add_argument("--epsilon", type=positive_float, help="flow speed (default 1)")
    p.add_argument("--h", type=positive_float, help="step size; T/h whole (default 0.05)")
    p.add_argument("--T", dest="t_end", type=positive_float, help="final time (default 20)")
    p.add_argument("--gamma", type=positive_float, help="FD perturbation (default 0.05)")
    p.add_argument(
        "--y0", type=float, nargs=2, metavar=("Y1", "Y2"),
        help="initial state (default: the paper's, normalised)",
    )  # fmt: skip
    p.add_argument(
        "--normalize", action=argparse.BooleanOptionalAction,
        help="scale y0 to unit length, as the paper does (default: yes)",
    )  # fmt: skip
    p.add_argument(
        "--direction", type=int, choices=(1, 2),
        help="perturb y_DIRECTION in the trajectory pictures (default 2)",
    )  # fmt: skip
    p.add_argument("--frames", type=positive_int, help="GIF frames (default 40)")
    p.add_argument(
        "--gif", action=argparse.BooleanOptionalAction,
        help="write trajectories.gif (needs pillow; default: yes)",
    )  # fmt: skip
    p.add_argument("--dpi", type=int, help="PNG resolution, 20 to 600 (default 100)")
    _add_out(p, "counterexample")
    p.set_defaults(func=run_counterexample)


def run_counterexample(args: argparse.Namespace) -> int:
    import torch

    from ..analysis import CounterexampleConfig, counterexample
    from ..plotting import new_figure, plot_bsm_entries, plot_trajectories, save_trajectories_gif
    from ..training import atomic_write, claim_run_folder

    torch.set_num_threads(1)
    flags = given(args)
    dpi, frames = flags.get("dpi", 100), flags.get("frames", 40)
    direction_index = flags.get("direction", 2)
    if not 20 <= dpi <= 600:
        raise UsageError(f"--dpi must be between 20 and 600, got {dpi}.")
    keys = ("epsilon", "h", "t_end", "gamma", "y0", "normalize")
    settings = {k: flags[k] for k in keys if k in flags}
    if "y0" in settings:
        settings["y0"] = tuple(settings["y0"])
    config = CounterexampleConfig(**settings)
    check_caps(flags)
    from ..training import check_memory

    # float64: the states and the 2x2 sensitivities, and one perturbed run per GIF frame
    per_step = 8 * (2 + 4 + 4 + 2 * (frames if flags.get("gif", True) else 1))
    limit = flags["memory_limit"] * 1e9 if "memory_limit" in flags else None
    check_memory({"trajectories": per_step * (config.n_steps + 1)}, limit=limit,
                 hint="T / h or --frames")  # fmt: skip
    result = counterexample(config)
    run, lock = claim_run_folder(
        flags.get("out"), "counterexample", overwrite=flags.get("overwrite", False)
    )
    with lock:
        run.write_json("config.json", config.to_dict())
        metrics = result.metrics()
        run.write_json("metrics.json", metrics)
        fig, axes = new_figure(size=(7.0, 4.5))
        plot_bsm_entries(axes[0, 0], result.t, result.bsm, result.bsm_fd)
        fig.suptitle(
            rf"$\epsilon$ = {config.epsilon:g}, h = {config.h:g}, $\gamma$ = {config.gamma:g}"
        )
        run.write_figure("bsm_entries.png", fig, dpi=dpi)
        n = config.n_steps
        direction = torch.zeros(2, dtype=result.states.dtype)
        direction[direction_index - 1] = 1.0
        fig, axes = new_figure(size=(5.5, 4.8))
        plot_trajectories(
            axes[0, 0], result.states, result.perturbed(n, direction),
            title=f"perturbation {config.gamma:g} e{direction_index} at t = 0",
        )  # fmt: skip
        run.write_figure("trajectories.png", fig, dpi=dpi)
        if flags.get("gif", True):
            lags = sorted({round(k * n / max(1, frames - 1)) for k in range(frames)})
            runs = [result.perturbed(k, direction) for k in lags]
            times = [k * config.h for k in lags]
            atomic_write(
                run.file("trajectories.gif"),
                lambda p: save_trajectories_gif(p, result.states, runs, times),
            )
    m = metrics
    print(
        f"dy(T)/dy(0) = {m['bsm']}, det = {m['determinant']:.12g}, "
        f"||.||_2 = {m['spectral_norm']:.6g}; wrote {run.path}"
    )
    return 0
