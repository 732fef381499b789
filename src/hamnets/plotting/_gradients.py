"""Plots of the gradient analysis: BSM entries, trajectories, norms against depth/iteration.

Every function draws on the ``ax`` it is given and returns it; arrays may be tensors or numpy
arrays. BSMs are in numerator layout (``M[a, b] = d y_out[a] / d y_in[b]``), entries are
labelled 1-based as in the papers.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from ._classify import new_figure
from ._gif import write_gif

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "plot_bsm_entries",
    "plot_depth_profiles",
    "gradient_norms_figure",
    "plot_gradient_norms",
    "plot_trajectories",
    "save_trajectories_gif",
]

_ENTRIES = ((0, 0), (0, 1), (1, 0), (1, 1))


def _np(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=float)


def plot_bsm_entries(ax: Axes, t, bsm, bsm_fd=None, *, every: int | None = None) -> Axes:
    """Entries (1,1), (1,2), (2,1), (2,2) of ``dy(T)/dy(T - t)`` against ``t``.

    Args:
        ax: where to draw.
        t: lags, shape ``(N+1,)``.
        bsm: exact BSMs, shape ``(N+1, 2, 2)`` (solid lines).
        bsm_fd: optional finite-difference estimate, same shape (markers, same colours).
        every: plot one marker every ``every`` points (default: about 25 markers).
    """
    t, bsm = _np(t), _np(bsm)
    if bsm.shape != (t.shape[0], 2, 2):
        raise ValueError(f"bsm must have shape ({t.shape[0]}, 2, 2), got {bsm.shape}.")
    every = every or max(1, t.shape[0] // 25)
    for k, (a, b) in enumerate(_ENTRIES):
        color = f"C{k}"
        ax.plot(t, bsm[:, a, b], color=color, lw=1.8, label=f"({a + 1},{b + 1}) exact")
        if bsm_fd is not None:
            fd = _np(bsm_fd)
            ax.plot(
                t[::every], fd[::every, a, b], ls="none", marker="o", ms=3.5, mfc="none",
                color=color, label=f"({a + 1},{b + 1}) finite diff.",
            )  # fmt: skip
    ax.axhline(0.0, color="0.6", lw=0.6)
    ax.set_xlabel("t")
    ax.set_ylabel(r"entries of $\partial y(T) / \partial y(T-t)$")
    ax.legend(ncol=2, fontsize="small")
    return ax


def plot_trajectories(
    ax: Axes, nominal, perturbed, *, zoom: bool = True, title: str | None = None
) -> Axes:
    """The nominal trajectory and a perturbed one that ends at the same time ``T``.

    Args:
        ax: where to draw.
        nominal: ``(N+1, 2)``, ``y(0) .. y(T)``.
        perturbed: ``(m+1, 2)``, the run from ``y(T - t) + gamma e`` to ``T`` (``m = t/h``).
        zoom: add an inset near ``y(T)`` with the difference vector ``y_gamma(T) - y(T)``.
        title: optional axes title.
    """
    nominal, perturbed = _np(nominal), _np(perturbed)
    ax.plot(nominal[:, 0], nominal[:, 1], color="C0", lw=1.2, label="nominal $y$")
    ax.plot(
        perturbed[:, 0], perturbed[:, 1], color="C3", lw=1.0, ls="--", label=r"perturbed $y_\gamma$"
    )
    ax.plot(*nominal[0], "o", color="C0", ms=7, zorder=3, label="$y(0)$")
    ax.plot(*perturbed[0], "s", color="C3", ms=5, zorder=3, label=r"$y_\gamma(T-t)$")
    ax.plot(*nominal[-1], "x", color="k", ms=7, mew=1.5, label="end at $T$")
    ax.plot(*perturbed[-1], "x", color="C3", ms=7, mew=1.5)
    ax.set_aspect("equal", adjustable="datalim")
    ax.set_xlabel("$y_1$")
    ax.set_ylabel("$y_2$")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left", fontsize="x-small")
    if zoom:
        ends = np.stack([nominal[-1], perturbed[-1]])
        half = max(0.05, 0.75 * np.abs(ends[0] - ends[1]).max())
        center = ends.mean(0)
        inset = ax.inset_axes((0.3, 0.3, 0.4, 0.4))  # orbits circle the origin: centre is free
        inset.plot(nominal[-80:, 0], nominal[-80:, 1], color="C0", lw=1.2)
        inset.plot(perturbed[-80:, 0], perturbed[-80:, 1], color="C3", lw=1.0, ls="--")
        inset.annotate(
            "", xy=tuple(perturbed[-1]), xytext=tuple(nominal[-1]),
            arrowprops={"arrowstyle": "->", "color": "k", "lw": 1.2},
        )  # fmt: skip
        inset.plot(*nominal[-1], "x", color="k", ms=6)
        inset.set_xlim(center[0] - half, center[0] + half)
        inset.set_ylim(center[1] - half, center[1] + half)
        inset.set_xticks([])
        inset.set_yticks([])
        inset.set_title(r"near $T$: $y_\gamma(T) - y(T)$", fontsize="x-small")
        ax.indicate_inset_zoom(inset, edgecolor="0.4")
    return ax


def save_trajectories_gif(
    path: str | os.PathLike,
    nominal,
    perturbed_runs: Sequence,
    lags: Sequence[float],
    *,
    fps: int = 8,
    dpi: int = 60,
    figsize: tuple[float, float] = (5.0, 4.2),
) -> None:
    """Animate :func:`plot_trajectories` over perturbation lags ``t`` (one frame each).

    Args:
        path: the ``.gif`` to write (pillow writer; install ``hamnets[gif]``).
        nominal: ``(N+1, 2)``.
        perturbed_runs: per frame, the run from ``T - t`` to ``T``, ``(m_k + 1, 2)``.
        lags: per frame, the lag ``t`` (for the title).
    """
    try:
        import PIL  # noqa: F401
    except ImportError as exc:
        raise ValueError(
            "writing a GIF needs pillow; install it with `pip install 'hamnets[gif]'`."
        ) from exc
    if len(perturbed_runs) != len(lags) or not lags:
        raise ValueError("perturbed_runs and lags must be non-empty and of the same length.")
    fig, axes = new_figure(size=figsize)
    ax = axes[0, 0]

    def draw(k: int) -> None:
        ax.clear()
        plot_trajectories(
            ax, nominal, perturbed_runs[k], title=f"perturbation at T - t, t = {lags[k]:.2f}"
        )

    path = os.fspath(path)
    tmp = path + ".tmp.gif"
    write_gif(tmp, fig, draw, range(len(lags)), fps=fps, dpi=dpi)
    os.replace(tmp, path)


def plot_gradient_norms(ax: Axes, iterations, norms, *, cmap: str = "viridis") -> Axes:
    """``||dy_L / dy_{L-l}||`` against training iteration, one line per depth ``l``.

    Args:
        ax: where to draw.
        iterations: ``(n_iter,)``.
        norms: ``(n_iter, D)``; column ``l`` is depth ``l`` (``l = 0`` is the output layer,
            where the BSM is the identity).
    """
    from matplotlib import colormaps
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    iterations, norms = _np(iterations), _np(norms)
    if norms.ndim != 2 or norms.shape[0] != iterations.shape[0]:
        raise ValueError(
            f"norms must have shape (n_iter={iterations.shape[0]}, depths), got {norms.shape}."
        )
    depths = norms.shape[1]
    colors = colormaps[cmap]
    scale = Normalize(0, max(1, depths - 1))
    for l in range(depths):  # noqa: E741
        ax.plot(iterations, norms[:, l], color=colors(scale(l)), lw=0.9)
    ax.axhline(1.0, color="k", ls="--", lw=1.0, label="1: lower bound for symplectic H2, MS3")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel(r"$\|\partial y_L / \partial y_{L-l}\|_2$")
    ax.figure.colorbar(ScalarMappable(scale, colors), ax=ax, label="depth $l$")
    ax.legend(loc="best", fontsize="small")
    return ax


def gradient_norms_figure(iterations, norms, *, title: str | None = None):
    """A figure with :func:`plot_gradient_norms` (the ``gradient_norms.png`` of a run)."""
    fig, axes = new_figure(size=(6.4, 4.2))
    plot_gradient_norms(axes[0, 0], iterations, norms)
    if title:
        axes[0, 0].set_title(title)
    return fig


def plot_depth_profiles(ax: Axes, profiles: Mapping[str, object], *, styles=None) -> Axes:
    """``||dy_L / dy_j||`` against layer ``j``, one line per network.

    Args:
        ax: where to draw.
        profiles: name -> norms of shape ``(L+1,)`` (index ``j``; ``j = L`` is the identity).
        styles: optional name -> dict of line keyword arguments.
    """
    styles = styles or {}
    for name, norms in profiles.items():
        norms = _np(norms)
        if norms.ndim != 1:
            raise ValueError(f"profile {name!r} must have shape (L+1,), got {norms.shape}.")
        ax.plot(np.arange(norms.shape[0]), norms, label=name, **styles.get(name, {}))
    ax.axhline(1.0, color="k", ls="--", lw=1.0)
    ax.set_yscale("log")
    ax.set_xlabel("layer $j$")
    ax.set_ylabel(r"$\|\partial y_L / \partial y_j\|_2$")
    ax.legend(fontsize="small")
    return ax
