"""Training: frozen configurations, fit loops, run directories and checkpoints."""

from ._classify import ClassifyResult, Interrupted, fit_classifier, seeded_generators
from ._config import PROTOCOLS, ClassifyConfig
from ._depth_comparison import DepthProfile, compare_depth_profiles, depth_profile
from ._mnist import (
    IMAGE_MODELS,
    PAPER_HYPERPARAMETERS,
    MnistConfig,
    build_image_model,
    evaluate_mnist,
    run_mnist,
)
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
    "RunDir",
    "Stopwatch",
    "compare_depth_profiles",
    "depth_profile",
    "fit_classifier",
    "paper_lr_factor",
    "progress",
    "resolve_device",
    "seeded_generators",
    "MnistConfig",
    "IMAGE_MODELS",
    "PAPER_HYPERPARAMETERS",
    "build_image_model",
    "run_mnist",
    "evaluate_mnist",
]
