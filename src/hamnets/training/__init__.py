"""Training: frozen configurations, fit loops, run directories and checkpoints."""

from ._hnn import (
    HNNConfig,
    derivative_mse,
    fit_derivatives,
    fit_trajectories,
    rollout_metrics,
    run_hnn,
)
from ._rundir import RunDir, Stopwatch, progress, resolve_device

__all__ = [
    "RunDir",
    "Stopwatch",
    "progress",
    "resolve_device",
    "HNNConfig",
    "derivative_mse",
    "fit_derivatives",
    "fit_trajectories",
    "rollout_metrics",
    "run_hnn",
]
