"""``hamnets classify --dataset mnist``: H-DNN image classifiers on MNIST-format sets."""

from ._config import IMAGE_MODELS, PAPER_HYPERPARAMETERS, ImageConfig, MnistConfig
from ._evaluate import evaluate_images
from ._run import build_image_model, run_images

__all__ = [
    "IMAGE_MODELS",
    "ImageConfig",
    "MnistConfig",
    "PAPER_HYPERPARAMETERS",
    "build_image_model",
    "evaluate_images",
    "run_images",
]
