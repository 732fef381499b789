"""Plots of port-Hamiltonian runs: the phase portrait of a driven rollout beside its input,
and the energy balance along a rollout. Each function draws on the ``ax`` it is given and
returns it."""

from __future__ import annotations

from collections.abc import Mapping

import torch

_STYLES = {"true": ("k", "-"), "port": ("C0", "--"), "hnn": ("C1", "--"), "baseline": ("C3", ":")}


def _style(name: str) -> tuple[str, str]:
    return _STYLES.get(name, ("C2", "--"))


def plot_port_phase(
    ax,
    rollouts: Mapping[str, torch.Tensor],
    *,
    index: int = 0,
    title: str | None = None,
):
    """Trajectories ``(T, B, dim)`` of rollout ``index`` in the ``(q_1, p_1)`` plane (the first
    degree of freedom), one line per source (``true`` solid)."""
    for name, traj in rollouts.items():
        x = traj[:, index].detach().double().cpu()  # (T, dim)
        n = x.shape[1] // 2
        color, line = _style(name)
        ax.plot(x[:, 0], x[:, n], line, color=color, lw=1.2, label=name)
    ax.set_xlabel("$q_1$")
    ax.set_ylabel("$p_1$")
    ax.legend(loc="best", fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return ax


def plot_input(ax, t: torch.Tensor, inputs: torch.Tensor, *, index: int = 0):
    """The input ``u(t)`` of rollout ``index``; ``inputs`` ``(B, T, m)``."""
    u = inputs[index].detach().double().cpu()  # (T, m)
    for k in range(u.shape[1]):
        ax.plot(t.double().cpu(), u[:, k], lw=1.0, label=f"$u_{k + 1}$")
    ax.set_xlabel("t")
    ax.set_ylabel("input u(t)")
    ax.set_title("the (unseen) input of this rollout", fontsize=10)
    return ax


def plot_energy_balance(
    ax,
    t: torch.Tensor,
    balance: Mapping[str, Mapping[str, torch.Tensor]],
    *,
    index: int = 0,
    title: str | None = None,
):
    """``H(t) - H(0)``, the supplied energy ``int y^T u`` and the dissipated energy
    ``int grad H^T R grad H`` along rollout ``index``; ``balance[source][curve]`` ``(T, B)``,
    the true system solid, learned models dashed."""
    t = t.double().cpu()
    colors = {"h": "C0", "supplied": "C2", "dissipated": "C3"}
    labels = {"h": "H(t) - H(0)", "supplied": "supplied", "dissipated": "dissipated"}
    for source, curves in balance.items():
        line = "-" if source == "true" else "--"
        for key, color in colors.items():
            y = curves[key][:, index].detach().double().cpu()
            ax.plot(t, y, line, color=color, lw=1.2, label=f"{labels[key]} ({source})")
    ax.set_xlabel("t")
    ax.set_ylabel("energy")
    ax.legend(loc="best", fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    return ax
