"""Two-dimensional binary classification sets of the H-DNN papers, and user-supplied 2D data.

Each generator draws ``n_samples`` points (8000 by default), shuffles them with the given
generator, and splits them by index: even positions train, odd positions test (4000 / 4000).
The two coordinates are then padded with zeros to ``nf`` features: ``x1`` goes into feature
``input_features[0]`` (default 0) and ``x2`` into ``input_features[1]`` (default ``nf - 1``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = [
    "Toy2D",
    "TOY2D_NAMES",
    "swiss_roll",
    "double_circles",
    "double_moons",
    "pad_features",
    "check_classification_data",
    "robust_domain",
    "points_outside",
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
