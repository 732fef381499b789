"""``hamnets hnn``: Hamiltonian neural networks fitted to trajectory data, on the engine.

The run is built from its :class:`HNNConfig` alone: :data:`SYSTEMS` names the true system
with its data and evaluation, :func:`hamnets.hnn.build_hnn` the networks and
:func:`hamnets.integrate.build_solver` every solver.
"""

from ..._lazy import lazy_exports

_EXPORTS = {
    "ACTIVATION_NAMES": "._config",
    "MODEL_NAMES": "._config",
    "PRESETS": "._config",
    "PRESET_NAMES": "._config",
    "SOLVER_NAMES": "._config",
    "SYMMETRY_NAMES": "._config",
    "SYSTEM_NAMES": "._config",
    "HNNConfig": "._config",
    "Evaluation": "._evaluate",
    "derivative_mse": "._evaluate",
    "eval_initial_conditions": "._evaluate",
    "eval_times": "._evaluate",
    "rollout_metrics": "._evaluate",
    "fit_derivatives": "._fit",
    "fit_trajectories": "._fit",
    "DEFAULT_CHECKPOINT_EVERY": "._run",
    "build_networks": "._run",
    "build_solvers": "._run",
    "run_hnn": "._run",
    "DerivativeRegression": "._stages",
    "TrajectoryFit": "._stages",
    "SYSTEMS": "._systems",
    "HNNData": "._systems",
    "HNNSystem": "._systems",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
