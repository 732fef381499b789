"""Training: frozen configurations, fit loops, run directories and checkpoints."""

from ._classify import ClassifyResult, Interrupted, fit_classifier, seeded_generators
from ._config import PROTOCOLS, ClassifyConfig
from ._depth_comparison import DepthProfile, compare_depth_profiles, depth_profile
from ._hnn import (
    HNNConfig,
    derivative_mse,
    fit_derivatives,
    fit_trajectories,
    rollout_metrics,
    run_hnn,
)
from ._mnist import (
    IMAGE_MODELS,
    PAPER_HYPERPARAMETERS,
    MnistConfig,
    build_image_model,
    evaluate_mnist,
    run_mnist,
)
from ._parallel import Parallel
from ._protocols import JointProtocol, PaperProtocol, paper_lr_factor
from ._readout_fit import AdamReadout
from ._rundir import RunDir, Stopwatch, progress, resolve_device

__all__ = [
    "AdamReadout",
    "ClassifyConfig",
    "ClassifyResult",
    "DepthProfile",
    "Interrupted",
    "JointProtocol",
    "PROTOCOLS",
    "PaperProtocol",
    "Parallel",
    "RunDir",
    "Stopwatch",
    "compare_depth_profiles",
    "depth_profile",
    "fit_classifier",
    "paper_lr_factor",
    "progress",
    "resolve_device",
    "seeded_generators",
    "HNNConfig",
    "derivative_mse",
    "fit_derivatives",
    "fit_trajectories",
    "rollout_metrics",
    "run_hnn",
    "MnistConfig",
    "IMAGE_MODELS",
    "PAPER_HYPERPARAMETERS",
    "build_image_model",
    "run_mnist",
    "evaluate_mnist",
]
