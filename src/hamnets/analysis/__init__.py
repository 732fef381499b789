"""Gradient analysis: backward sensitivity matrices and the exploding-gradient counterexample."""

from ._counterexample import (
    COUNTEREXAMPLE_Y0,
    CounterexampleConfig,
    CounterexampleResult,
    counterexample,
    counterexample_jacobians,
    counterexample_trajectory,
    finite_difference_bsm,
)
from ._sensitivity import accumulate_backward, backward_sensitivity, layer_jacobians
from ._singular_values import smallest_singular_value, spectral_norm
from ._symplecticity import symplecticity_residual
from ._tracking import GradientRecorder, depth_norms, load_gradients, save_gradients

__all__ = [
    "backward_sensitivity",
    "layer_jacobians",
    "accumulate_backward",
    "spectral_norm",
    "smallest_singular_value",
    "symplecticity_residual",
    "COUNTEREXAMPLE_Y0",
    "CounterexampleConfig",
    "CounterexampleResult",
    "counterexample",
    "counterexample_jacobians",
    "counterexample_trajectory",
    "finite_difference_bsm",
    "GradientRecorder",
    "depth_norms",
    "load_gradients",
    "save_gradients",
]
