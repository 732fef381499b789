"""Two-dimensional binary classification sets of the H-DNN papers, and user-supplied 2D data.

Each generator draws ``n_samples`` points (8000 by default), shuffles them with the given
generator, and splits them by index: even positions train, odd positions test (4000 / 4000).
The two coordinates are then padded with zeros to ``nf`` features: ``x1`` goes into feature
``input_features[0]`` (default 0) and ``x2`` into ``input_features[1]`` (default ``nf - 1``).
"""

from __future__ import annotations

import math
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .._npz import load_npz

__all__ = [
    "Toy2D",
    "TOY2D_NAMES",
    "swiss_roll",
    "double_circles",
    "double_moons",
    "make_toy2d",
    "load_toy2d_file",
    "pad_features",
    "check_classification_data",
    "robust_domain",
    "points_outside",
    "file_samples",
]

TOY2D_NAMES = ("swiss_roll", "double_circles", "double_moons")


@dataclass(frozen=True)
class Toy2D:
    """A 2D binary classification set, padded to ``nf`` features.

    Attributes:
        name: the set's name.
        x_train, x_test: (n_train, nf) and (n_test, nf) float32 inputs.
        y_train, y_test: (n_train,) and (n_test,) float32 labels in {0, 1}.
        domain: (x1_min, x1_max, x2_min, x2_max), the plotting window.
        input_features: the two features that carry x1 and x2.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    domain: tuple[float, float, float, float]
    input_features: tuple[int, int]

    @property
    def nf(self) -> int:
        return int(self.x_train.shape[1])


def _check_input_features(nf: int, input_features: tuple[int, int] | None) -> tuple[int, int]:
    if not isinstance(nf, int) or nf < 2:
        raise ValueError(f"nf must be an integer >= 2 to hold the two inputs, got nf={nf!r}.")
    if input_features is None:
        return (0, nf - 1)
    i, j = (int(v) for v in input_features)
    if not (0 <= i < nf and 0 <= j < nf and i != j):
        raise ValueError(
            f"input_features must be two different feature indices in [0, {nf - 1}], "
            f"got {tuple(input_features)}; the default is (0, {nf - 1})."
        )
    return (i, j)


def pad_features(
    x2d: torch.Tensor, nf: int, input_features: tuple[int, int] | None = None
) -> torch.Tensor:
    """Pad (n, 2) points to (n, nf): x1 into ``input_features[0]``, x2 into ``[1]``."""
    i, j = _check_input_features(nf, input_features)
    out = x2d.new_zeros(x2d.shape[0], nf)  # (n, nf)
    out[:, i] = x2d[:, 0]
    out[:, j] = x2d[:, 1]
    return out


def check_classification_data(x: torch.Tensor, y: torch.Tensor, *, what: str = "data") -> None:
    """Refuse data that would break training: wrong shapes, NaN/inf, labels not in {0, 1}."""
    if x.dim() != 2:
        raise ValueError(f"{what}: inputs must have shape (n, features), got {tuple(x.shape)}.")
    if y.dim() != 1 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"{what}: labels must have shape ({x.shape[0]},) to match the inputs, "
            f"got {tuple(y.shape)}."
        )
    if x.shape[0] == 0:
        raise ValueError(f"{what}: no samples.")
    bad = ~torch.isfinite(x)
    if bad.any():
        row = int(bad.any(dim=1).nonzero()[0])
        raise ValueError(
            f"{what}: inputs contain {int(bad.sum())} NaN/inf value(s), first in sample {row}; "
            "remove or fix them before training."
        )
    if not torch.isin(y, torch.tensor([0.0, 1.0], dtype=y.dtype)).all():
        found = sorted({float(v) for v in torch.unique(y)[:5]})
        raise ValueError(f"{what}: labels must be 0 or 1, found values such as {found}.")
    present = {int(v) for v in torch.unique(y)}
    if len(present) < 2:
        only = present.pop()
        raise ValueError(
            f"{what}: every label is {only}; a classifier needs samples of both classes 0 and "
            f"1 (a model that always answers {only} would score 100%)."
        )


def _split(
    name: str,
    x2d: torch.Tensor,
    labels: torch.Tensor,
    domain: tuple[float, float, float, float],
    nf: int,
    input_features: tuple[int, int] | None,
    generator: torch.Generator | None,
) -> Toy2D:
    perm = torch.randperm(x2d.shape[0], generator=generator)
    x2d, labels = x2d[perm], labels[perm]
    x = pad_features(x2d, nf, input_features)  # (n, nf)
    return Toy2D(
        name=name,
        x_train=x[0::2].contiguous(),
        y_train=labels[0::2].contiguous(),
        x_test=x[1::2].contiguous(),
        y_test=labels[1::2].contiguous(),
        domain=domain,
        input_features=_check_input_features(nf, input_features),
    )


def _check_n(n_samples: int, multiple: int) -> None:
    if not isinstance(n_samples, int) or n_samples < 2 * multiple or n_samples % multiple:
        raise ValueError(
            f"n_samples must be a positive multiple of {multiple} (at least {2 * multiple}), "
            f"got {n_samples!r}."
        )


def _uniform(n: int, half_width: float, generator: torch.Generator | None) -> torch.Tensor:
    return (torch.rand(n, 2, generator=generator) - 0.5) * (2 * half_width)  # (n, 2)


def swiss_roll(
    n_samples: int = 8000,
    *,
    nf: int = 4,
    input_features: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Toy2D:
    """Two interleaved spiral arms, no noise.

    Arm 1 (label 1, inner): radius ``linspace(0, 1)``; arm 0: radius ``linspace(0.2, 1.2)``;
    both with angle ``linspace(0, 4 pi)`` over ``n_samples / 2`` points. Domain [-1.2, 1.2]^2.
    """
    _check_n(n_samples, 2)
    m = n_samples // 2
    theta = torch.linspace(0, 4 * math.pi, m)
    arms = []
    for r in (torch.linspace(0, 1, m), torch.linspace(0.2, 1.2, m)):
        arms.append(torch.stack([r * torch.cos(theta), r * torch.sin(theta)], 1))  # (m, 2)
    x2d = torch.cat(arms)  # (n, 2)
    labels = torch.cat([torch.ones(m), torch.zeros(m)])
    return _split("swiss_roll", x2d, labels, (-1.2, 1.2, -1.2, 1.2), nf, input_features, generator)


def double_circles(
    n_samples: int = 8000,
    *,
    nf: int = 4,
    input_features: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Toy2D:
    """Four concentric circles of radii 1, 2, 3, 4 with labels 0, 1, 0, 1.

    Angles ``4 pi i / m`` for ``i < m = n_samples / 4``; uniform noise in [-0.3, 0.3] on each
    coordinate. Domain [-5, 5]^2.
    """
    _check_n(n_samples, 4)
    m = n_samples // 4
    theta = 4 * math.pi * torch.arange(m) / m
    circle = torch.stack([torch.cos(theta), torch.sin(theta)], 1)  # (m, 2)
    x2d = torch.cat([r * circle for r in (1.0, 2.0, 3.0, 4.0)])  # (n, 2)
    x2d = x2d + _uniform(n_samples, 0.3, generator)
    labels = torch.cat([torch.full((m,), float(c)) for c in (0, 1, 0, 1)])
    return _split(
        "double_circles", x2d, labels, (-5.0, 5.0, -5.0, 5.0), nf, input_features, generator
    )


def double_moons(
    n_samples: int = 8000,
    *,
    nf: int = 4,
    input_features: tuple[int, int] | None = None,
    generator: torch.Generator | None = None,
) -> Toy2D:
    """Two pairs of interleaved half-moons, the second pair shifted by +2 in x1.

    Upper moon (label 0): ``(cos t, sin t)``; lower moon (label 1): ``(1 - cos t, 0.5 - sin t)``,
    ``t = pi i / m`` for ``i < m = n_samples / 4``; uniform noise in [-0.15, 0.15].
    Domain [-2, 5] x [-1, 2].
    """
    _check_n(n_samples, 4)
    m = n_samples // 4
    t = math.pi * torch.arange(m) / m
    upper = torch.stack([torch.cos(t), torch.sin(t)], 1)  # (m, 2)
    lower = torch.stack([1 - torch.cos(t), 0.5 - torch.sin(t)], 1)  # (m, 2)
    shift = torch.tensor([2.0, 0.0])
    x2d = torch.cat([upper, lower, upper + shift, lower + shift])  # (n, 2)
    x2d = x2d + _uniform(n_samples, 0.15, generator)
    labels = torch.cat([torch.full((m,), float(c)) for c in (0, 1, 0, 1)])
    return _split(
        "double_moons", x2d, labels, (-2.0, 5.0, -1.0, 2.0), nf, input_features, generator
    )


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


def robust_domain(x2d: torch.Tensor) -> tuple[float, float, float, float]:
    """A plotting window for (n, 2) points that a few outliers cannot blow up.

    Per coordinate: the 1%..99% quantile range, widened to the full range when that is at most
    three times as wide (then every point is inside), with a 10% margin.
    """
    x = x2d.double()
    lo, hi = x.min(0).values, x.max(0).values
    qlo = torch.quantile(x, 0.01, dim=0)
    qhi = torch.quantile(x, 0.99, dim=0)
    full = (hi - lo) <= 3 * (qhi - qlo).clamp_min(1e-12)
    lo, hi = torch.where(full, lo, qlo), torch.where(full, hi, qhi)
    margin = 0.1 * (hi - lo).clamp_min(1e-3)
    return (
        float(lo[0] - margin[0]),
        float(hi[0] + margin[0]),
        float(lo[1] - margin[1]),
        float(hi[1] + margin[1]),
    )


def points_outside(points: np.ndarray, domain: tuple[float, float, float, float]) -> int:
    """How many of the (n, 2) ``points`` lie outside ``domain``."""
    x1min, x1max, x2min, x2max = domain
    inside = (
        (points[:, 0] >= x1min)
        & (points[:, 0] <= x1max)
        & (points[:, 1] >= x2min)
        & (points[:, 1] <= x2max)
    )
    return int((~inside).sum())


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
