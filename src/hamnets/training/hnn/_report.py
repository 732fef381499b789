"""Writing the files of a finished ``hamnets hnn`` run: metrics, history and pictures."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._rundir import RunDir

if TYPE_CHECKING:
    from ._config import HNNConfig
    from ._evaluate import Evaluation

__all__ = ["write_hnn_outputs"]


def write_hnn_outputs(
    run: RunDir,
    config: HNNConfig,
    metrics: dict[str, Any],
    history: list[dict[str, Any]],
    evaluation: Evaluation,
    *,
    plots: bool = True,
) -> None:
    """Write ``metrics.json``, ``history.csv``, ``phase.png`` (true against learned
    trajectories) and ``energy.png`` (the true H along each rollout) into ``run``, each
    atomically; ``plots=False`` leaves out the pictures."""
    run.write_json("metrics.json", metrics)
    run.write_csv("history.csv", history)
    if not plots:
        return
    from ...plotting import hnn_figure, plot_energy, plot_phase

    rollouts = dict(evaluation.rollouts)
    true = rollouts.pop("true")
    fig, (ax,) = hnn_figure()
    title = f"{config.system}: true vs learned" + (
        "" if config.system == "tutorial" else f", T={config.horizon:g}"
    )
    plot_phase(ax, true, rollouts, title=title)
    fig.tight_layout()
    run.write_figure("phase.png", fig, dpi=120)
    fig, (ax,) = hnn_figure(size=(6.0, 4.0))
    title = f"{config.system}: true H along the rollouts"
    plot_energy(ax, evaluation.t, evaluation.energies, evaluation.h0, title=title)
    fig.tight_layout()
    run.write_figure("energy.png", fig, dpi=120)
