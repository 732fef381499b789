"""Pictures of an image classifier: the confusion matrix and a grid of misclassified images.

Every function draws on the ``ax`` it is given and returns it; matplotlib is imported only
when a figure is made.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_confusion", "plot_misclassified", "image_grid"]


def plot_confusion(ax, counts: np.ndarray, classes: Sequence[str]):
    """Draw a confusion matrix (rows: true class, columns: predicted class) with its counts.

    Args:
        ax: a matplotlib Axes.
        counts: (K, K) integer counts.
        classes: K class names.

    Returns:
        ``ax``.
    """
    counts = np.asarray(counts)
    k = len(classes)
    if counts.shape != (k, k):
        raise ValueError(f"counts must be ({k}, {k}) for {k} classes, got {counts.shape}.")
    shown = np.log1p(counts)  # the diagonal would hide every error on a linear scale
    ax.imshow(shown, cmap="Blues")
    thresh = shown.max() / 2 if counts.size else 0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(int(counts[i, j])),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if shown[i, j] > thresh else "black",
            )
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 2 else 0)
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    total = counts.sum()
    acc = np.trace(counts) / total if total else float("nan")
    ax.set_title(f"test confusion matrix (accuracy {100 * acc:.2f}%)")
    return ax


def image_grid(images: np.ndarray, ncols: int, pad: int = 2) -> np.ndarray:
    """Tile ``(N, H, W)`` images into one ``(rows*(H+pad), ncols*(W+pad))`` array (pad = NaN)."""
    n, h, w = images.shape
    rows = max(1, -(-n // ncols))
    out = np.full((rows * (h + pad), ncols * (w + pad)), np.nan)
    for k in range(n):
        r, c = divmod(k, ncols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = images[k]
    return out


def plot_misclassified(
    ax,
    images: np.ndarray,
    pred: np.ndarray,
    true: np.ndarray,
    classes: Sequence[str],
    ncols: int = 8,
):
    """Draw misclassified images in a grid, each labelled ``predicted / true``.

    Args:
        ax: a matplotlib Axes.
        images: (N, H, W) images (any range).
        pred, true: (N,) predicted and true class indices.
        classes: class names.
        ncols: images per row.

    Returns:
        ``ax``.
    """
    images = np.asarray(images, dtype=np.float64)
    n = len(images)
    if images.ndim != 3 or len(pred) != n or len(true) != n:
        raise ValueError(
            f"images must be (N, H, W) with N predictions and labels; got {images.shape}, "
            f"{len(pred)} predictions, {len(true)} labels."
        )
    ax.set_axis_off()
    if n == 0:
        ax.set_title("no misclassified test images")
        return ax
    pad = 8
    h, w = images.shape[1:]
    ax.imshow(image_grid(images, ncols, pad), cmap="gray_r", interpolation="nearest")
    for k in range(n):
        r, c = divmod(k, ncols)
        ax.text(
            c * (w + pad) + w / 2,
            r * (h + pad) + h + 0.5,
            f"{classes[int(pred[k])]} / {classes[int(true[k])]}",
            ha="center",
            va="top",
            fontsize=6,
            color="crimson",
        )
    ax.set_title(f"misclassified test images (predicted / true), first {n}")
    return ax
