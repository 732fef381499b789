"""Pictures of a 2D classifier: class regions, and hidden states propagating layer by layer.

Every function draws on the ``ax`` it is given and returns it; matplotlib is imported only
when a figure is made (:func:`new_figure`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ._gif import write_gif

__all__ = [
    "new_figure",
    "readout_basis",
    "plot_decision_boundary",
    "plot_propagation",
    "save_propagation_gif",
]

_COLORS = ("#1f77b4", "#d62728")  # label 0, label 1


def new_figure(nrows: int = 1, ncols: int = 1, *, size: tuple[float, float] = (5.0, 4.5)):
    """A figure with an (nrows, ncols) array of axes, not registered with pyplot."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def readout_basis(W: np.ndarray) -> np.ndarray:
    """An orthonormal basis (nf, nf) whose first column is the read-out normal ``W / ||W||``.

    Args:
        W: read-out weights, shape (nf,) or (1, nf).

    Returns:
        Q of shape (nf, nf) with orthonormal columns and ``Q[:, 0] = W / ||W||``; states
        ``y`` in the new coordinates are ``y @ Q``.
    """
    w = np.asarray(W, dtype=np.float64).reshape(-1)
    norm = np.linalg.norm(w)
    if norm == 0:
        return np.eye(w.size)
    stacked = np.column_stack([w / norm, np.eye(w.size)])  # (nf, nf + 1)
    q, _ = np.linalg.qr(stacked)
    q = q[:, : w.size]
    if q[:, 0] @ w < 0:
        q[:, 0] = -q[:, 0]
    return q


def plot_decision_boundary(
    ax,
    grid_x1: np.ndarray,
    grid_x2: np.ndarray,
    grid_logits: np.ndarray,
    points: np.ndarray,
    labels: np.ndarray,
    *,
    title: str | None = None,
):
    """Class regions (logit >= 0 is class 1) on a grid, with the given points on top.

    Args:
        grid_x1, grid_x2: (G, G) coordinates of the grid (``np.meshgrid``).
        grid_logits: (G, G) logits at the grid points.
        points: (n, 2) points to scatter (e.g. the test set); labels: (n,) in {0, 1}.
    """
    from matplotlib.colors import ListedColormap

    regions = ListedColormap(["#c6dbef", "#fcbba1"])
    ax.contourf(
        grid_x1, grid_x2, (grid_logits >= 0).astype(float), levels=[-0.5, 0.5, 1.5], cmap=regions
    )
    ax.contour(grid_x1, grid_x2, grid_logits, levels=[0.0], colors="k", linewidths=0.8)
    for label, color in enumerate(_COLORS):
        sel = labels == label
        ax.scatter(points[sel, 0], points[sel, 1], s=3, c=color, label=f"class {label}")
    ax.set_xlim(grid_x1.min(), grid_x1.max())
    ax.set_ylim(grid_x2.min(), grid_x2.max())
    ax.set_aspect("equal")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper right", fontsize=7, markerscale=3)
    return ax


def plot_propagation(
    ax,
    coords: np.ndarray,
    labels: np.ndarray,
    plane: tuple[int, int],
    *,
    threshold: float | None = None,
    limits: tuple[float, float, float, float] | None = None,
    title: str | None = None,
):
    """Hidden states of one layer, projected on a plane of the read-out basis.

    Args:
        coords: (n, nf) states already expressed in the read-out basis (``y @ Q``).
        labels: (n,) labels in {0, 1}.
        plane: the two coordinates to show, e.g. (0, 1) for (x1, x2).
        threshold: where the decision hyperplane ``x1 = threshold`` lies (``-mu / ||W||``);
            drawn dashed when the plane contains x1.
        limits: (xmin, xmax, ymin, ymax) to keep frames of an animation aligned.
    """
    i, j = plane
    for label, color in enumerate(_COLORS):
        sel = labels == label
        ax.scatter(coords[sel, i], coords[sel, j], s=2, c=color)
    if limits is not None:
        ax.set_xlim(limits[0], limits[1])
        ax.set_ylim(limits[2], limits[3])
    if threshold is not None and i == 0:
        ax.axvline(threshold, color="k", linestyle="--", linewidth=1.0)
    ax.set_xlabel(f"$x_{i + 1}$")
    ax.set_ylabel(f"$x_{j + 1}$")
    if title:
        ax.set_title(title, fontsize=9)
    return ax


def _planes(nf: int) -> list[tuple[int, int]]:
    return [(0, k) for k in range(1, min(nf, 4))]


def _limits(coords: np.ndarray, plane: tuple[int, int]) -> tuple[float, float, float, float]:
    i, j = plane
    lo, hi = coords[..., [i, j]].min(axis=(0, 1)), coords[..., [i, j]].max(axis=(0, 1))
    pad = 0.05 * np.maximum(hi - lo, 1e-6)
    return (lo[0] - pad[0], hi[0] + pad[0], lo[1] - pad[1], hi[1] + pad[1])


def propagation_figure(
    states: np.ndarray,
    labels: np.ndarray,
    W: np.ndarray,
    mu: float,
    layers: Sequence[int] | None = None,
):
    """A figure of the states at a few layers (rows) on the planes (x1, xk) (columns).

    Args:
        states: (L + 1, n, nf) hidden states of the points, layer by layer.
        labels: (n,) labels; W: (nf,) read-out weights; mu: read-out bias.
        layers: which layers to show (default: first, middle, last).
    """
    q = readout_basis(W)
    coords = states @ q  # (L + 1, n, nf)
    threshold = -float(mu) / max(float(np.linalg.norm(W)), 1e-12)
    n_layers = states.shape[0] - 1
    layers = list(layers) if layers is not None else sorted({0, n_layers // 2, n_layers})
    planes = _planes(states.shape[-1])
    fig, axes = new_figure(len(layers), len(planes), size=(3.2, 3.0))
    for r, layer in enumerate(layers):
        for c, plane in enumerate(planes):
            plot_propagation(
                axes[r, c],
                coords[layer],
                labels,
                plane,
                threshold=threshold,
                limits=_limits(coords, plane),
                title=f"layer {layer}",
            )
    return fig


def save_propagation_gif(
    path: str | Path,
    states: np.ndarray,
    labels: np.ndarray,
    W: np.ndarray,
    mu: float,
    *,
    max_frames: int = 40,
    fps: int = 6,
) -> Path:
    """An animation of the states layer by layer (at most ``max_frames`` frames)."""
    q = readout_basis(W)
    coords = states @ q  # (L + 1, n, nf)
    threshold = -float(mu) / max(float(np.linalg.norm(W)), 1e-12)
    planes = _planes(states.shape[-1])
    limits = [_limits(coords, p) for p in planes]
    frames = np.unique(
        np.linspace(0, states.shape[0] - 1, min(max_frames, states.shape[0])).round().astype(int)
    )
    fig, axes = new_figure(1, len(planes), size=(3.2, 3.0))
    # The first frame is drawn in full and laid out once; later frames move the points and
    # change the titles (redrawing every axis and re-solving the layout per frame cost about
    # 0.5 s a frame), and every frame has the same axes positions.
    classes = [labels == label for label in range(len(_COLORS))]
    for c, plane in enumerate(planes):
        plot_propagation(
            axes[0, c],
            coords[frames[0]],
            labels,
            plane,
            threshold=threshold,
            limits=limits[c],
            title=f"layer {frames[0]}",
        )

    def update(layer: int) -> None:
        for c, (i, j) in enumerate(planes):
            ax = axes[0, c]
            for points, sel in zip(ax.collections, classes, strict=True):
                points.set_offsets(coords[layer][sel][:, [i, j]])
            ax.set_title(f"layer {layer}", fontsize=9)

    return write_gif(path, fig, update, frames.tolist(), fps=fps, dpi=70, freeze_layout=True)
