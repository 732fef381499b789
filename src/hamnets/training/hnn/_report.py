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
    atomically; ``plots=False`` leaves out the pictures. A port system's run writes
    ``phase.png`` with the rollout's input beside it and ``energy_balance.png`` instead of
    ``energy.png`` (:func:`_port_plots`)."""
    run.write_json("metrics.json", metrics)
    run.write_csv("history.csv", history)
    if not plots:
        return
    if evaluation.balance is not None:
        _port_plots(run, config, evaluation)
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


def _port_plots(run: RunDir, config: HNNConfig, evaluation: Evaluation) -> None:
    """``phase.png``: the first test rollout in the ``(q_1, p_1)`` plane, true against learned,
    with its input (driven systems); ``energy_balance.png``: ``H(t) - H(0)``, the supplied and
    the dissipated energy along it, learned against true."""
    from ...plotting import hnn_figure, plot_energy_balance, plot_input, plot_port_phase

    driven = evaluation.inputs is not None and evaluation.inputs.shape[-1] > 0
    fig, axes = hnn_figure(ncols=2 if driven else 1)
    title = f"{config.system}: rollout 1 of {config.n_eval}, T={config.horizon:g}"
    plot_port_phase(axes[0], evaluation.rollouts, title=title)
    if driven:
        assert evaluation.inputs is not None
        plot_input(axes[1], evaluation.t, evaluation.inputs)
    fig.tight_layout()
    run.write_figure("phase.png", fig, dpi=120)
    assert evaluation.balance is not None
    fig, (ax,) = hnn_figure(size=(6.5, 4.5))
    title = f"{config.system}: energy balance along rollout 1 (solid: true)"
    plot_energy_balance(ax, evaluation.t, evaluation.balance, title=title)
    fig.tight_layout()
    run.write_figure("energy_balance.png", fig, dpi=120)
