"""Training: frozen configurations, fit loops, run directories and checkpoints."""

from ._mnist import (
    IMAGE_MODELS,
    PAPER_HYPERPARAMETERS,
    MnistConfig,
    build_image_model,
    evaluate_mnist,
    run_mnist,
)
from ._rundir import RunDir, Stopwatch, progress, resolve_device

__all__ = [
    "RunDir",
    "Stopwatch",
    "progress",
    "resolve_device",
    "MnistConfig",
    "IMAGE_MODELS",
    "PAPER_HYPERPARAMETERS",
    "build_image_model",
    "run_mnist",
    "evaluate_mnist",
]
