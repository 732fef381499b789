"""Figures without pyplot: an Agg-backed ``matplotlib.figure.Figure``, saved explicitly."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # matplotlib is imported lazily, at the first figure
    from matplotlib.figure import Figure

__all__ = ["new_figure", "save_figure"]


def new_figure(figsize: tuple[float, float] = (6.4, 4.8)) -> Figure:
    """A new figure on its own Agg canvas (no pyplot, no global state, no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig: Figure, path: str | os.PathLike, *, dpi: int = 100) -> None:
    """Save ``fig`` (the format follows the file name), written to a temporary name first."""
    path = os.fspath(path)
    root, ext = os.path.splitext(path)
    tmp = f"{root}.tmp{ext}"
    fig.savefig(tmp, dpi=dpi)
    os.replace(tmp, path)
