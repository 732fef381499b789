"""``hamnets classify --dataset mnist``: H-DNN image classifiers on MNIST-format sets."""

from ..._lazy import lazy_exports

_EXPORTS = {
    "IMAGE_MODELS": "._config",
    "ImageConfig": "._config",
    "MnistConfig": "._config",
    "PAPER_HYPERPARAMETERS": "._config",
    "evaluate_images": "._evaluate",
    "build_image_model": "._run",
    "run_images": "._run",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
