"""The stages on their own, in memory: fit a network to pairs or trajectories (library use,
benchmarks). Runs go through :func:`run_hnn`; these share its stages and its engine."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from .._engine import Engine, Interrupted, Phase, Stage
from .._parallel import Parallel
from ._config import HNNConfig
from ._stages import DerivativeRegression, TrajectoryFit

__all__ = ["fit_derivatives", "fit_trajectories"]


class _Net:
    def __init__(self, model: nn.Module) -> None:
        self.model = model

    def state_dict(self) -> dict[str, Any]:
        return {"model": self.model.state_dict()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])

    def parameters(self) -> Iterable[torch.Tensor]:
        return self.model.parameters()


def _fit(
    model: nn.Module,
    name: str,
    steps: int,
    build: Callable[[], Stage],
    config: HNNConfig,
    quiet: bool,
    on_interrupt: Callable[[int], None] | None,
    parallel: Parallel,
) -> list[dict[str, Any]]:
    phase = Phase(name, steps, build, period=config.log_every, desc=f"{config.system} {name}")
    engine = Engine(_Net(model), [phase], run=None, header={}, parallel=parallel, quiet=quiet)
    try:
        engine.run_phases()
    except Interrupted:
        if on_interrupt is not None:
            on_interrupt(engine.state.done)
        raise
    return engine.history


def fit_derivatives(
    model: nn.Module,
    x: torch.Tensor,
    dxdt: torch.Tensor,
    config: HNNConfig,
    generator: torch.Generator,
    *,
    x_test: torch.Tensor | None = None,
    dxdt_test: torch.Tensor | None = None,
    label: str = "model",
    quiet: bool = True,
    on_interrupt: Callable[[int], None] | None = None,
    parallel: Parallel | None = None,
) -> list[dict[str, Any]]:
    """``config.steps`` Adam steps on ``mean |f_theta(x) - dxdt|^2`` over pairs ``(N, dim)``
    (:class:`DerivativeRegression`); returns the history.

    Ctrl-C finishes the current step, calls ``on_interrupt(step)`` and raises
    :class:`~hamnets.training.Interrupted`; a non-finite loss raises
    :class:`~hamnets.training.Diverged`. ``parallel``: this process's place in a data-parallel
    job whose process group is initialised (default: a single process).
    """
    parallel = Parallel() if parallel is None else parallel

    def build() -> DerivativeRegression:
        return DerivativeRegression(
            model, x, dxdt, config, generator, label=label,
            x_test=x_test, dxdt_test=dxdt_test, parallel=parallel,
        )  # fmt: skip

    return _fit(model, label, config.steps, build, config, quiet, on_interrupt, parallel)


def fit_trajectories(
    model: nn.Module,
    states: torch.Tensor,
    t: torch.Tensor,
    config: HNNConfig,
    *,
    dxdt: torch.Tensor | None = None,
    label: str = "trajectory",
    quiet: bool = True,
    on_interrupt: Callable[[int], None] | None = None,
    parallel: Parallel | None = None,
) -> list[dict[str, Any]]:
    """``config.trajectory_steps`` Adam steps of :class:`TrajectoryFit` on observed states
    ``(n_traj, T, dim)`` at times ``t`` ``(T,)`` with optional clean derivatives ``dxdt``;
    returns the history. Ctrl-C and divergence as for :func:`fit_derivatives`."""
    parallel = Parallel() if parallel is None else parallel

    def build() -> TrajectoryFit:
        return TrajectoryFit(model, states, t, config, dxdt=dxdt, label=label, parallel=parallel)

    steps = config.trajectory_steps
    return _fit(model, label, steps, build, config, quiet, on_interrupt, parallel)
