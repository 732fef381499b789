"""2D classification data by name: the toy sets, or a user file (``.csv`` / ``.npz``), read
as untrusted input (a header only when it names the columns, every cell a number with its line
named when not, values within float32's range, both classes present, sizes read before the
data)."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import torch

from .._npz import load_npz
from ._toy2d import (
    TOY2D_NAMES,
    Toy2D,
    _split,
    check_classification_data,
    double_circles,
    double_moons,
    robust_domain,
    swiss_roll,
)

__all__ = ["make_toy2d", "load_toy2d_file", "file_samples"]


def make_toy2d(
    name: str,
    *,
    nf: int = 4,
    input_features: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Toy2D:
    """A toy set by name (one of :data:`TOY2D_NAMES`) or a user file (``.csv`` / ``.npz``)."""
    makers = {
        "swiss_roll": swiss_roll,
        "double_circles": double_circles,
        "double_moons": double_moons,
    }
    if name in makers:
        return makers[name](nf=nf, input_features=input_features, generator=generator)
    if name.endswith((".csv", ".npz")):
        return load_toy2d_file(name, nf=nf, input_features=input_features, generator=generator)
    raise ValueError(
        f"unknown dataset {name!r}; choose one of {', '.join(TOY2D_NAMES)}, "
        "or give a .csv file (columns x1,x2,label) or an .npz file (arrays x, y)."
    )


#: the largest finite float32: inputs are float32, and a value beyond it would become inf.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: the most samples a user file may hold (a CSV is parsed row by row in Python; beyond this,
#: and for any .npz, the guard of the training command decides)
MAX_CSV_ROWS = 10_000_000
#: the most samples of an .npz file (read from its header before its arrays are loaded)
MAX_NPZ_SAMPLES = 1_000_000_000
_NAME = re.compile(r"[A-Za-z_][\w .()\-]*")


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _is_header(cells: list[str]) -> bool:
    """A header names every column (``x1,x2,label``); a row with any number in it is data."""
    names = [c.strip().strip("\"'") for c in cells]
    return all(_NAME.fullmatch(c) and not _is_number(c) for c in names)


def _read_csv(path: Path) -> tuple[np.ndarray, list[int]]:
    """The (n, 3) float64 rows of a ``x1,x2,label`` file and their line numbers.

    A first line that names the columns is a header (a UTF-8 byte-order mark is dropped);
    any other cell that is not a number is an error naming its line. Blank lines and lines
    starting with ``#`` are skipped.
    """
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}.") from None
    try:
        text = raw.decode("utf-8-sig")  # drops a byte-order mark
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path}: not UTF-8 text (byte {exc.start}); save it as a UTF-8 CSV file."
        ) from None
    rows: list[list[float]] = []
    lines: list[int] = []
    first = True
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cells = [c.strip() for c in stripped.split(",")]
        if first and _is_header(cells):
            first = False
            if len(cells) != 3:
                raise ValueError(
                    f"{path}:{lineno}: the header has {len(cells)} columns; expected 3 "
                    f"(x1,x2,label)."
                )
            continue
        first = False
        if len(cells) != 3:
            raise ValueError(
                f"{path}:{lineno}: expected 3 columns x1,x2,label, found {len(cells)}: "
                f"{stripped[:60]!r}."
            )
        bad = next((c for c in cells if not _is_number(c)), None)
        if bad is not None:
            raise ValueError(
                f"{path}:{lineno}: {bad[:30]!r} is not a number (only the first line may be a "
                f"header, naming the columns such as x1,x2,label)."
            )
        rows.append([float(c) for c in cells])
        lines.append(lineno)
        if len(rows) > MAX_CSV_ROWS:
            raise ValueError(
                f"{path}: more than {MAX_CSV_ROWS} rows; store a set this large as an .npz file "
                f"(numpy.savez(path, x=x, y=y))."
            )
    if not rows:
        raise ValueError(f"{path}: no data rows; expected lines x1,x2,label such as 0.5,-1.2,1.")
    return np.asarray(rows, dtype=np.float64), lines


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """The ``x`` (n, 2) and ``y`` (n,) arrays of an ``.npz`` archive, as float64."""
    rows = npz_samples(path)
    if rows is not None and rows > MAX_NPZ_SAMPLES:
        raise ValueError(f"{path}: {rows} samples; at most {MAX_NPZ_SAMPLES} are supported.")
    data = load_npz(
        path, needs=("x", "y"), hint=f"write one with numpy.savez({path.name!r}, x=x, y=y)"
    )
    return np.asarray(data["x"], dtype=np.float64), np.asarray(data["y"], dtype=np.float64)


def npz_samples(path: str | Path) -> int | None:
    """The number of rows of the array ``x`` of an ``.npz`` file, read from its header
    without loading it (None if the archive or its header cannot be read)."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("x.npy") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _, _ = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _, _ = np.lib.format.read_array_header_2_0(f)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, EOFError):
        return None
    return int(shape[0]) if shape else 1


def file_samples(path: str | Path) -> int | None:
    """An upper bound on the samples of a ``.csv`` (its lines) or ``.npz`` file (its header),
    read without parsing the data; None if it cannot be told."""
    path = Path(path)
    if not path.is_file():
        return None
    if path.suffix == ".npz":
        return npz_samples(path)
    lines = 0
    try:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                lines += chunk.count(b"\n")
    except OSError:
        return None
    return lines + 1


def _check_range(values: np.ndarray, path: Path, where) -> None:
    """Refuse NaN/inf and values float32 cannot hold, naming where the first one is."""
    bad = ~np.isfinite(values)
    if bad.any():
        idx = tuple(np.argwhere(bad)[0])
        raise ValueError(
            f"{path}: NaN/inf value {values[idx]} in {where(int(idx[0]))}; remove or fix it "
            f"before training."
        )
    big = np.abs(values) > FLOAT32_MAX
    if big.any():
        idx = tuple(np.argwhere(big)[0])
        raise ValueError(
            f"{path}: {values[idx]:.6g} in {where(int(idx[0]))} is beyond float32's range "
            f"(+-{FLOAT32_MAX:.4g}); rescale the data."
        )


def load_toy2d_file(
    path: str | Path,
    *,
    nf: int = 4,
    input_features: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Toy2D:
    """Load user 2D data: ``.csv`` with columns ``x1,x2,label`` (a first line naming the
    columns is a header) or ``.npz`` with ``x`` (n, 2) and ``y`` (n,). The points are shuffled
    and split even/odd like the built-in sets; both splits must hold both classes. The domain
    is chosen by :func:`robust_domain`.

    Raises:
        ValueError: a missing file or a directory, a cell that is not a number (with its line),
            NaN/inf or a value beyond float32's range, labels other than 0/1, one class only,
            an invalid ``.npz`` archive.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"data file {path} is a directory, not a file.")
    if not path.is_file():
        raise ValueError(f"data file {path} not found.")
    if path.suffix == ".csv":
        arr, lines = _read_csv(path)
        _check_range(arr, path, lambda i: f"sample {i} (line {lines[i]})")
        xs, ys = arr[:, :2], arr[:, 2]
    else:
        xs, ys = _read_npz(path)
        if xs.ndim != 2 or xs.shape[1] != 2:
            raise ValueError(f"{path}: 'x' must have shape (n, 2), got {xs.shape}.")
        if ys.reshape(-1).shape[0] != xs.shape[0]:
            raise ValueError(
                f"{path}: 'y' must have {xs.shape[0]} labels to match 'x', got {ys.shape}."
            )
        _check_range(xs, path, lambda i: f"sample {i} (x[{i}])")
        _check_range(ys.reshape(-1), path, lambda i: f"sample {i} (y[{i}])")
    x2d = torch.as_tensor(np.asarray(xs, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(ys, dtype=np.float32)).reshape(-1)
    check_classification_data(x2d, labels, what=str(path))
    if x2d.shape[0] < 4:
        raise ValueError(
            f"{path}: {x2d.shape[0]} samples; need at least 4 (two of each class) to split "
            f"into training and test sets."
        )
    return _split(path.stem, x2d, labels, robust_domain(x2d), nf, input_features, generator)
