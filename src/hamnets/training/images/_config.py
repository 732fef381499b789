"""Frozen configuration of an image-classification run (MNIST, Fashion-MNIST)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ...datasets import DATASETS
from ...hdnn import MODEL_NAMES
from .._configs import RunConfig, check_seed, free

__all__ = ["IMAGE_MODELS", "LOGISTIC", "ImageConfig", "MnistConfig", "PAPER_HYPERPARAMETERS"]

#: the baseline's name, besides the H-DNN names.
LOGISTIC = "logistic"
IMAGE_MODELS = (*MODEL_NAMES, LOGISTIC)

#: ``model -> (h, weight_decay, alpha)`` of the reference MNIST experiments. The dissipative
#: ``pH1_J1``, ``pH1_J2`` get their H1's values, the other H-DNNs MS1's (our choices, untuned);
#: the baseline has no step and no regulariser.
PAPER_HYPERPARAMETERS: dict[str, tuple[float, float, float]] = {
    "MS1": (0.4, 1e-3, 1e-3),
    "H1_J1": (0.5, 4e-3, 8e-3),
    "H1_J2": (0.05, 2e-4, 1e-3),
    "pH1_J1": (0.5, 4e-3, 8e-3),
    "pH1_J2": (0.05, 2e-4, 1e-3),
}
_FALLBACK = (0.4, 1e-3, 1e-3)


@dataclass(frozen=True)
class ImageConfig(RunConfig):
    """One image-classification run. ``None`` for ``h``, ``weight_decay``, ``alpha`` means the
    model's value in :data:`PAPER_HYPERPARAMETERS` (filled in at construction).

    The names are those of :class:`~hamnets.training.ClassifyConfig` where the quantity is the
    same (``layers``, ``nf``); a ``config.json`` of hamnets 0.1.0 (``n_layers``, ``channels``)
    still loads (:attr:`RENAMED`).

    Attributes:
        dataset: ``mnist`` or ``fashion_mnist``.
        model: an H-DNN name or ``logistic``.
        layers: H-DNN layers ``L``; the final time is ``h * L``.
        h: step size (the 2D task gives ``t_end`` instead; here ``t_end = h * layers``).
        weight_decay: Adam's (L2) weight decay.
        alpha: weight of the smoothness regulariser.
        nf: convolution channels = the H-DNN's number of features (of the first stage).
        stages: blocks of convolution + per-pixel H-DNN; 1 is the papers' model, each further
            one pools 2x2 and doubles the channels (see
            :class:`~hamnets.vision.HDNNImageClassifier`).
        lr: Adam's learning rate.
        gamma: learning-rate factor applied after every epoch.
        epochs: training epochs.
        batch_size: images per step.
        val_size: training images held out for validation (never trained on).
        shift: data augmentation: random translations of up to ``shift`` pixels (0: none).
        seed: seeds every generator of the run.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (a resumed run may change it).
        data_dir: a folder with the four IDX files to take instead of the cache's (a resumed
            run may change it: the files are md5-checked, so the data cannot change).
        download: may fetch the data set from the network when it is not cached (free too).
        fused: on a CPU, run the classifier on channel planes with the H-DNN as one fused
            node (:class:`~hamnets.vision.HDNNImageClassifier`, ``fused=None``); False runs
            the plain modules layer by layer on every device. The same function to float
            rounding, so a resumed run may change it (free); the MNIST figures recorded
            before the fused path became the default were made with False.
    """

    KIND: ClassVar[str] = "images"
    RENAMED: ClassVar[dict[str, str]] = {"n_layers": "layers", "channels": "nf"}

    dataset: str = "mnist"
    model: str = "H1_J1"
    layers: int = 4
    h: float | None = None
    weight_decay: float | None = None
    alpha: float | None = None
    nf: int = 8
    stages: int = 1
    lr: float = 0.04
    gamma: float = 0.8
    epochs: int = 10
    batch_size: int = 100
    val_size: int = 5000
    shift: int = 0
    seed: int = 0
    device: str = free("cpu")
    data_dir: str | None = free(None)
    download: bool = free(True)
    fused: bool = free(True)

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(
                f"unknown dataset {self.dataset!r}; choose one of {', '.join(DATASETS)}."
            )
        if self.model not in IMAGE_MODELS:
            raise ValueError(
                f"unknown model {self.model!r}; choose one of {', '.join(IMAGE_MODELS)}."
            )
        h, wd, alpha = PAPER_HYPERPARAMETERS.get(self.model, _FALLBACK)
        if self.model == LOGISTIC:
            h, wd, alpha = 1.0, 0.0, 0.0
        for name, default in (("h", h), ("weight_decay", wd), ("alpha", alpha)):
            if getattr(self, name) is None:
                object.__setattr__(self, name, float(default))
        positive = {"layers": self.layers, "nf": self.nf, "lr": self.lr}
        positive |= {"stages": self.stages}
        positive |= {"epochs": self.epochs, "batch_size": self.batch_size, "h": self.h}
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {name}={value!r}.")
        for name in ("weight_decay", "alpha", "val_size", "shift"):
            if not getattr(self, name) >= 0 or not math.isfinite(getattr(self, name)):
                raise ValueError(
                    f"{name} must be a finite number >= 0, got {name}={getattr(self, name)!r}."
                )
        check_seed(self.seed)
        if not 0 < self.gamma <= 1:  # (NaN fails too)
            raise ValueError(f"gamma must be in (0, 1], got gamma={self.gamma!r}.")


#: the name of hamnets 0.1.0.
MnistConfig = ImageConfig
