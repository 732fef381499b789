"""``hamnets hnn``: Hamiltonian neural networks fitted to trajectory data, on the engine.

The run is built from its :class:`HNNConfig` alone: :data:`SYSTEMS` names the true system
with its data and evaluation, :func:`hamnets.hnn.build_hnn` the networks and
:func:`hamnets.integrate.build_solver` every solver.
"""

from ._config import MODEL_NAMES, SOLVER_NAMES, SYMMETRY_NAMES, SYSTEM_NAMES, HNNConfig
from ._evaluate import (
    Evaluation,
    derivative_mse,
    eval_initial_conditions,
    eval_times,
    rollout_metrics,
)
from ._fit import fit_derivatives, fit_trajectories
from ._run import DEFAULT_CHECKPOINT_EVERY, build_networks, build_solvers, run_hnn
from ._stages import DerivativeRegression, TrajectoryFit
from ._systems import SYSTEMS, HNNData, HNNSystem

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "DerivativeRegression",
    "Evaluation",
    "HNNConfig",
    "HNNData",
    "HNNSystem",
    "MODEL_NAMES",
    "SOLVER_NAMES",
    "SYMMETRY_NAMES",
    "SYSTEMS",
    "SYSTEM_NAMES",
    "TrajectoryFit",
    "build_networks",
    "build_solvers",
    "derivative_mse",
    "eval_initial_conditions",
    "eval_times",
    "fit_derivatives",
    "fit_trajectories",
    "rollout_metrics",
    "run_hnn",
]
