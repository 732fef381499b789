"""``hamnets evaluate``: the accuracy of a run folder's checkpoint, computed again."""

from __future__ import annotations

import dataclasses
import os
from typing import Any

import torch

from ...datasets import ImageData, load_dataset
from .._configs import ConfigError, differences
from .._device import resolve_device
from .._engine import DONE
from .._rundir import CONFIG, RunDir, RunFolderError
from ._config import ImageConfig
from ._data import accuracy, predict, split
from ._run import _migrate_v1, build_image_model

__all__ = ["evaluate_images"]


def evaluate_images(
    run_dir: str | os.PathLike, *, data: ImageData | None = None, device: str | None = None
) -> dict[str, Any]:
    """Re-compute the test and validation accuracy of a run folder's checkpoint.

    Args:
        run_dir: the folder of an image run (finished or stopped; format 1 or 2).
        data: the data set already loaded (default: the run's, from the cache).
        device: where to compute (default: the run's device).

    Returns:
        ``{"test_accuracy", "val_accuracy", "epoch", "n_test"}``; ``epoch`` is the number of
        epochs the checkpoint has finished.

    Raises:
        RunFolderError: the folder is not an image run, or a file in it is unreadable.
    """
    run = RunDir(run_dir)
    config = ImageConfig.from_dict(run.read_json(CONFIG), source=str(run.path / CONFIG))
    if device is not None:
        config = dataclasses.replace(config, device=device)
    dev = resolve_device(config.device)
    if data is None:
        data = load_dataset(config.dataset, folder=config.data_dir, download=config.download)
    s = split(config, data, dev)
    n_batches = -(-len(s.train_y) // config.batch_size)
    ckpt = run.load_checkpoint()
    if "format" not in ckpt:
        ckpt = _migrate_v1(ckpt, n_batches)
    if ckpt.get("kind") != ImageConfig.KIND or not isinstance(ckpt.get("task"), dict):
        raise RunFolderError(f"{run.path / 'checkpoint.pt'} is not the checkpoint of an image run.")
    inside = ImageConfig.from_dict(ckpt["config"], source=f"{run.path / 'checkpoint.pt'} (config)")
    if differences(inside, config):
        raise ConfigError(
            f"{run.path}: checkpoint.pt and config.json describe different runs (different: "
            f"{', '.join(differences(inside, config))})."
        )
    model = build_image_model(config, tuple(s.train_x.shape[1:]), len(s.classes),
                              torch.Generator()).to(dev)  # fmt: skip
    model.load_state_dict(ckpt["task"]["model"])
    engine = ckpt["engine"]
    epoch = config.epochs if engine["phase"] == DONE else engine["done"] // n_batches
    return {
        "test_accuracy": accuracy(predict(model, s.test_x, s), s.test_y),
        "val_accuracy": accuracy(predict(model, s.val_x, s), s.val_y),
        "epoch": epoch,
        "n_test": len(s.test_y),
    }
