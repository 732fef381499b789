"""Plots of HNN runs: phase portraits and energy along rollouts. Each function draws on the
``ax`` it is given and returns it; matplotlib is imported only by :func:`hnn_figure`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch


def hnn_figure(ncols: int = 1, size: tuple[float, float] = (5.0, 4.0)) -> tuple[Any, list]:
    """A standalone ``matplotlib.figure.Figure`` (Agg canvas, no pyplot state) and its axes."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(size[0] * ncols, size[1]))
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]
    return fig, axes


def _xy(traj: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two coordinates to draw: ``(q, p)`` for one degree of freedom, else the plane
    positions of the first body ``(q_0, q_1)``."""
    traj = traj.detach().double().cpu()
    if traj.shape[-1] == 2:
        return traj[..., 0], traj[..., 1]
    return traj[..., 0], traj[..., 1]


def plot_phase(
    ax,
    true: torch.Tensor,
    predicted: Mapping[str, torch.Tensor],
    *,
    max_curves: int = 15,
    title: str | None = None,
):
    """True against predicted trajectories ``(T, B, dim)`` in the ``(q, p)`` plane (for
    ``dim > 2``: the plane position of the first body)."""
    tq, tp = _xy(true)
    for b in range(min(max_curves, tq.shape[1])):
        ax.plot(
            tq[:, b], tp[:, b], color="black", lw=1.5, alpha=0.6, label="true" if b == 0 else None
        )
    styles = ("tab:red", "tab:blue", "tab:green", "tab:orange")
    for (name, traj), color in zip(predicted.items(), styles, strict=False):
        q, p = _xy(traj)
        for b in range(min(max_curves, q.shape[1])):
            ax.plot(q[:, b], p[:, b], color=color, lw=0.8, ls="--", label=name if b == 0 else None)
    two = true.shape[-1] == 2
    ax.set_xlabel("q" if two else "x (body 1)")
    ax.set_ylabel("p" if two else "y (body 1)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(loc="upper right", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def plot_energy(
    ax,
    t: torch.Tensor,
    energies: Mapping[str, torch.Tensor],
    true_energy: torch.Tensor,
    *,
    title: str | None = None,
):
    """The true H along each rollout, relative to its initial value: ``energies[name]`` is
    ``(T, B)``, ``true_energy`` is ``(B,)``; draws the median over ``B`` and the 10-90% band."""
    t = t.detach().double().cpu()
    h0 = true_energy.detach().double().cpu()
    styles = ("tab:red", "tab:blue", "tab:green", "tab:orange")
    for (name, h), color in zip(energies.items(), styles, strict=False):
        rel = (h.detach().double().cpu() - h0) / h0.abs()  # (T, B)
        lo, mid, hi = torch.quantile(rel, torch.tensor([0.1, 0.5, 0.9], dtype=rel.dtype), dim=1)
        ax.plot(t, mid, color=color, label=f"{name} (median)")
        ax.fill_between(t, lo, hi, color=color, alpha=0.2)
    ax.axhline(0.0, color="black", lw=1, label="true")
    ax.set_xlabel("t")
    ax.set_ylabel("(H(x(t)) - H(x0)) / |H(x0)|, true H")
    ax.legend(loc="best", fontsize="small")
    if title:
        ax.set_title(title)
    return ax


def save_figure(fig, path) -> None:
    """Write a figure made by :func:`hnn_figure` to ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
