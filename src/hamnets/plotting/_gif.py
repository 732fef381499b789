"""Writing an animation as a GIF: one draw of the figure per frame, the frames through Pillow.

matplotlib's ``FuncAnimation`` + ``PillowWriter`` draw the figure twice per frame (once after
the update, once to grab it); this draws it once, into an Agg canvas, and hands the RGBA
buffers to Pillow (a dependency of matplotlib), written atomically by the caller's path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

__all__ = ["write_gif"]


def write_gif(
    path: str | Path,
    fig,
    update: Callable[[int], object],
    frames: Iterable[int],
    *,
    fps: int,
    dpi: int,
    freeze_layout: bool = False,
) -> Path:
    """Call ``update(frame)`` for each frame, draw ``fig`` and write the frames to ``path``.

    Args:
        fig: a :class:`matplotlib.figure.Figure` (given an Agg canvas here).
        update: changes the figure's artists for a frame.
        fps, dpi: frames per second and the resolution of each frame.
        freeze_layout: lay the figure out on the first frame only (its layout engine is
            switched off after it): every frame then has the same axes positions, and later
            frames skip the layout solve.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    canvas = FigureCanvasAgg(fig)
    fig.set_dpi(dpi)
    images = []
    for k, frame in enumerate(frames):
        update(frame)
        canvas.draw()
        if freeze_layout and k == 0:
            fig.set_layout_engine("none")
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba()).copy(), "RGBA"))
    if not images:
        raise ValueError("an animation needs at least one frame.")
    path = Path(path)
    images[0].save(
        path, format="GIF", save_all=True, append_images=images[1:],
        duration=int(1000 / fps), loop=0,
    )  # fmt: skip
    return path
