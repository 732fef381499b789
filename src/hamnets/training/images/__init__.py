"""``hamnets classify --dataset mnist``: H-DNN image classifiers on MNIST-format sets."""

from ._config import IMAGE_MODELS, PAPER_HYPERPARAMETERS, ImageConfig, MnistConfig
from ._data import Splits
from ._evaluate import evaluate_images
from ._report import image_metrics
from ._run import build_image_model, run_images

__all__ = [
    "IMAGE_MODELS",
    "ImageConfig",
    "MnistConfig",
    "PAPER_HYPERPARAMETERS",
    "Splits",
    "build_image_model",
    "evaluate_images",
    "image_metrics",
    "run_images",
]
