"""``hamnets classify``: flags -> a 2D or an image configuration -> its run.

2D data sets (swiss_roll, double_circles, double_moons, a .csv/.npz file) make a
:class:`~hamnets.training.ClassifyConfig`; ``mnist`` and ``fashion_mnist`` make an
:class:`~hamnets.training.images.ImageConfig`. A flag that belongs to the other kind of data
is refused.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._common import (
    RUN_FLAGS,
    SourceLog,
    UsageError,
    add_run_flags,
    check_caps,
    config_for,
    given,
    nonnegative_int,
    positive_float,
    positive_int,
    print_plan,
    run_options,
    seed,
    set_threads,
)

IMAGE_DATASETS = ("mnist", "fashion_mnist")


def add(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "classify",
        argument_default=argparse.SUPPRESS,
        help="train an H-DNN classifier on 2D data or on MNIST / Fashion-MNIST",
        description="Train an H-DNN on swiss_roll, double_circles, double_moons, your own 2D "
        "data (.csv with x1,x2,label or .npz with x, y), or mnist / fashion_mnist. Writes "
        "config.json, checkpoint.pt, metrics.json, history.csv and pictures into the run "
        "folder.",
    )
    p.add_argument(
        "--dataset",
        help="swiss_roll (default), double_circles, double_moons, a .csv/.npz file, mnist or "
        "fashion_mnist",
    )
    p.add_argument(
        "--model",
        help="H1_J1 (default), H1_J2, H2, MS1, MS2, MS3, the dissipative pH1_J1, pH1_J2; the "
        "baseline MLP (2D) or logistic (images)",
    )
    p.add_argument(
        "--layers",
        type=positive_int,
        help="number of layers L (default 16; with --graph 4; images 4)",
    )
    p.add_argument(
        "--t-end",
        type=positive_float,
        help="final time T, h = T / L (default 1.2; with --graph 0.5 L; images: see --h)",
    )
    p.add_argument(
        "--nf",
        type=positive_int,
        help="number of features (default 4; with --graph 2 x nodes; images: channels, 8)",
    )
    p.add_argument(
        "--epochs",
        type=positive_int,
        help="passes over the data (default: 50 with --protocol paper, 100 with joint; images 10)",
    )
    p.add_argument(
        "--batch-size",
        type=positive_int,
        help="mini-batch size (default: 125 with --protocol paper, 50 with joint; images 100)",
    )
    p.add_argument("--lr", type=positive_float, help="Adam learning rate (2D 0.05, images 0.04)")
    p.add_argument(
        "--alpha", type=float, help="smoothness regulariser weight (2D 5e-4; images per model)"
    )
    p.add_argument(
        "--seed", type=seed, help="seeds data, initialisation and batches, 0 to 2^32-1 (default 0)"
    )
    p.add_argument(
        "--plots",
        action=argparse.BooleanOptionalAction,
        help="write the pictures (default: yes)",
    )
    p.add_argument(
        "--fused",
        action=argparse.BooleanOptionalAction,
        help="the fast kernels (default: yes): the H-DNN as one fused node (images: on channel "
        "planes, on a CPU), fused Adam, and (2D paper protocol) numpy read-out fits; "
        "--no-fused: the plain layer loop and torch.optim.Adam, as the figures recorded "
        "before it; the same training to float rounding",
    )
    add_run_flags(p)
    g = p.add_argument_group("2D data only")
    g.add_argument(
        "--protocol",
        choices=("paper", "joint"),
        help="paper: the reference procedure; joint: end-to-end training (default)",
    )
    g.add_argument(
        "--input-features",
        type=int,
        nargs=2,
        metavar=("I", "J"),
        help="features that carry x1 and x2 (default: 0 and nf-1; with --graph of n nodes: "
        "p of node 0 and q of node n/2)",
    )
    g.add_argument(
        "--graph",
        metavar="SPEC",
        help="graph-structured (distributed) H2: ring:N, line:N, grid:RxC, full:N or "
        "file:PATH (one 'i j' edge per line); node i owns features i (p) and n+i (q)",
    )
    g.add_argument(
        "--allow-isolated-nodes",
        action="store_true",
        help="accept nodes of a --graph file:PATH that no edge touches (refused by default: "
        "usually a typo such as '2 99' for '2 9')",
    )
    g.add_argument(
        "--track-gradients",
        action="store_true",
        help="record the BSM norms dy_L/dy_{L-l} for every depth l after every step "
        "(gradients.npz, gradient_norms.png)",
    )
    g = p.add_argument_group(
        "image data sets only (--dataset mnist or fashion_mnist)",
        "Conv2d(1->nf, 3x3) -> H-DNN at every pixel -> Linear(nf*784 -> 10). Defaults: the "
        "paper's protocol (Adam lr 0.04, x0.8 per epoch, batch 100, 10 epochs, 4 layers, nf 8, "
        "per-model h, weight decay and alpha). --model logistic is the baseline.",
    )
    g.add_argument("--h", type=positive_float, help="step size (default: per model)")
    g.add_argument("--weight-decay", type=float, help="Adam weight decay (default: per model)")
    g.add_argument("--gamma", type=float, help="learning-rate factor per epoch (default 0.8)")
    g.add_argument(
        "--val-size", type=nonnegative_int, help="training images kept aside (default 5000)"
    )
    g.add_argument(
        "--shift", type=nonnegative_int, help="augmentation: random shifts in pixels (default 0)"
    )
    g.add_argument(
        "--stages",
        type=positive_int,
        help="conv + H-DNN blocks (default 1, the papers' model; each more pools 2x2 and "
        "doubles --nf)",
    )
    g.add_argument("--data-dir", help="a folder with the four IDX files")
    g.add_argument(
        "--download",
        action=argparse.BooleanOptionalAction,
        help="fetch the data set when it is not cached (default: yes)",
    )
    p.set_defaults(func=run)


def _is_images(flags: dict[str, Any]) -> bool:
    if "resume" in flags:
        from ..training import RunDir

        stored = RunDir(flags["resume"]).read_json("config.json")
        return isinstance(stored, dict) and stored.get("dataset") in IMAGE_DATASETS
    return flags.get("dataset") in IMAGE_DATASETS


def run(args: argparse.Namespace) -> int:
    flags = given(args)
    set_threads(flags)
    settings = {k: v for k, v in flags.items() if k not in RUN_FLAGS}
    if _is_images(flags):
        return _run_images(flags, settings)
    return _run_2d(flags, settings)


def _fill_2d(settings: dict[str, Any]) -> dict[str, Any]:
    """nf, L, T and the input features that depend on ``--graph``.

    Without ``--graph``: :class:`ClassifyConfig`'s defaults. With ``--graph`` of n nodes: the
    reference's distributed example (Galimberti et al., ring of 8): nf = 2 n, L = 4, h = 0.5
    (T = 0.5 L), x1 into p of node 0 (feature 0), x2 into q of node n/2 (feature n + n/2).
    """
    if "input_features" in settings:
        settings["input_features"] = tuple(settings["input_features"])
    if settings.get("graph") is None:
        return settings
    from ..hdnn import parse_graph

    n = parse_graph(
        settings["graph"], allow_isolated=settings.get("allow_isolated_nodes", False)
    ).n_nodes
    settings.setdefault("nf", 2 * n)
    settings.setdefault("layers", 4)
    settings.setdefault("t_end", 0.5 * settings["layers"])
    settings.setdefault("input_features", (0, n + n // 2))
    return settings


def _run_2d(flags: dict[str, Any], settings: dict[str, Any]) -> int:
    from ..training import ClassifyConfig, Parallel, fit_classifier

    if "input_features" in settings:
        settings["input_features"] = tuple(settings["input_features"])
    config = config_for(
        ClassifyConfig,
        settings,
        resume=flags.get("resume"),
        what="2D data sets (it is for --dataset mnist or fashion_mnist)",
        fill=_fill_2d,
    )
    check_caps(flags)  # once every flag is known to apply
    parallel = Parallel.from_env()  # under torchrun: one rank of a data-parallel job
    result = fit_classifier(config, run_options(flags), parallel=parallel)
    if result.metrics.get("status") == "checked":
        if parallel.is_main:
            print_plan(result.metrics)
        return 0
    if parallel.is_main:  # only rank 0 reports
        m = result.metrics
        print(
            f"{config.model} on {config.dataset} ({config.protocol} protocol): "
            f"train {m['train_accuracy']:.2%}, test {m['test_accuracy']:.2%}, "
            f"{m['cpu_seconds']:.1f} s CPU -> {result.run.path if result.run else '(no folder)'}"
        )
    return 0


def _run_images(flags: dict[str, Any], settings: dict[str, Any]) -> int:
    from ..training import Parallel
    from ..training.images import ImageConfig, run_images

    if "t_end" in settings:  # the images' step is h; T = h L
        if "h" in settings:
            raise UsageError("give --h or --t-end, not both (h = t_end / layers).")
        layers = settings.get("layers", ImageConfig().layers)
        settings["h"] = settings.pop("t_end") / layers
    config = config_for(
        ImageConfig,
        settings,
        resume=flags.get("resume"),
        what="image data sets (it is for 2D data)",
    )
    check_caps(flags)  # once every flag is known to apply
    parallel = Parallel.from_env()  # under torchrun: one rank of a data-parallel job
    result = run_images(
        config,
        run_options(flags),
        parallel=parallel,
        log=SourceLog(),
    )
    if result.metrics.get("status") == "checked":
        if parallel.is_main:
            print_plan(result.metrics)
        return 0
    if parallel.is_main:
        m = result.metrics
        print(
            f"{m['model']} on {m['dataset']}: test accuracy {m['test_accuracy']:.2%} "
            f"(validation {m['val_accuracy']:.2%}), {m['images_per_s']:.0f} images/s, "
            f"{m['wall_seconds']:.0f} s -> {result.run.path if result.run else '(no folder)'}"
        )
    return 0
