"""Training: one engine, run folders you can trust, and one package per task.

* :mod:`~hamnets.training.classify`: H-DNN classifiers on 2D data (``hamnets classify``);
* :mod:`~hamnets.training.images`: MNIST-format image sets (``hamnets classify --dataset mnist``);
* :mod:`~hamnets.training.hnn`: Hamiltonian neural networks (``hamnets hnn``).

Each task's run function takes a frozen configuration and :class:`RunOptions` and plugs its
steps into the :class:`Engine` (resume, Ctrl-C, checkpoints, the non-finite guard, progress).
Names are imported on first use (the command line's ``--help`` needs no torch).
"""

from .._lazy import lazy_exports

_EXPORTS = {
    "ConfigError": "._errors",
    "Diverged": "._errors",
    "Interrupted": "._errors",
    "RunFolderError": "._errors",
    "ResourceError": "._errors",
    "available_memory": "._resources",
    "check_memory": "._resources",
    "FORMAT": "._configs",
    "RunConfig": "._configs",
    "resolve_device": "._device",
    "Engine": "._engine",
    "Phase": "._engine",
    "Stopwatch": "._engine",
    "progress": "._engine",
    "RunLock": "._folder",
    "claim_run_folder": "._folder",
    "Parallel": "._parallel",
    "RunDir": "._rundir",
    "atomic_write": "._rundir",
    "RunOptions": "._session",
    "RunResult": "._session",
    "RunSession": "._session",
    **{
        name: ".classify"
        for name in (
            "AdamReadout",
            "ClassifyConfig",
            "ClassifyResult",
            "DepthProfile",
            "JointProtocol",
            "PROTOCOLS",
            "PaperProtocol",
            "compare_depth_profiles",
            "depth_profile",
            "fit_classifier",
            "paper_lr_factor",
            "seeded_generators",
        )
    },
    **{name: ".hnn" for name in ("HNNConfig", "fit_derivatives", "fit_trajectories", "run_hnn")},
    **{
        name: ".images"
        for name in (
            "IMAGE_MODELS",
            "ImageConfig",
            "MnistConfig",
            "PAPER_HYPERPARAMETERS",
            "build_image_model",
            "evaluate_images",
            "run_images",
        )
    },
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
