"""Training: one engine, run folders you can trust, and one package per task.

* :mod:`~hamnets.training.classify`: H-DNN classifiers on 2D data (``hamnets classify``);
* :mod:`~hamnets.training.images`: MNIST-format image sets (``hamnets classify --dataset mnist``);
* :mod:`~hamnets.training.hnn`: Hamiltonian neural networks (``hamnets hnn``).

Each task's ``run`` takes a frozen configuration and :class:`RunOptions` and plugs its steps
into the :class:`Engine` (resume, Ctrl-C, checkpoints, the non-finite guard, progress).
"""

from ._configs import ConfigError, RunConfig
from ._device import resolve_device
from ._engine import Diverged, Engine, Interrupted, Phase, Stopwatch, progress
from ._folder import RunLock, claim_run_folder
from ._parallel import Parallel
from ._rundir import RunDir, RunFolderError
from ._session import RunOptions, RunSession
from .classify import (
    PROTOCOLS,
    AdamReadout,
    ClassifyConfig,
    ClassifyResult,
    DepthProfile,
    JointProtocol,
    PaperProtocol,
    compare_depth_profiles,
    depth_profile,
    fit_classifier,
    paper_lr_factor,
    seeded_generators,
)
from .images import (
    IMAGE_MODELS,
    PAPER_HYPERPARAMETERS,
    ImageConfig,
    MnistConfig,
    build_image_model,
    evaluate_images,
    run_images,
)

__all__ = [
    "AdamReadout",
    "ClassifyConfig",
    "ClassifyResult",
    "ConfigError",
    "DepthProfile",
    "Diverged",
    "Engine",
    "IMAGE_MODELS",
    "ImageConfig",
    "Interrupted",
    "JointProtocol",
    "MnistConfig",
    "PAPER_HYPERPARAMETERS",
    "PROTOCOLS",
    "PaperProtocol",
    "Parallel",
    "Phase",
    "RunConfig",
    "RunDir",
    "RunFolderError",
    "RunLock",
    "RunOptions",
    "RunSession",
    "Stopwatch",
    "build_image_model",
    "claim_run_folder",
    "compare_depth_profiles",
    "depth_profile",
    "evaluate_images",
    "fit_classifier",
    "paper_lr_factor",
    "progress",
    "resolve_device",
    "run_images",
    "seeded_generators",
]
