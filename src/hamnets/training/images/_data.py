"""The data side of an image run: the fixed train / validation / test split, normalisation,
random shifts and the generator each batch's shifts are drawn from, and sharded accuracy."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...datasets import DATASETS, ImageData, load_dataset
from .._parallel import Parallel
from ._config import ImageConfig

__all__ = [
    "Splits",
    "accuracy",
    "batch_generator",
    "load_images",
    "normalise",
    "predict",
    "sharded_accuracy",
    "shift_images",
    "split",
]


@dataclass(frozen=True)
class Splits:
    """A data set split for one run, on the run's device."""

    train_x: torch.Tensor  # (N_train, H, W) uint8
    train_y: torch.Tensor  # (N_train,) int64
    val_x: torch.Tensor  # (N_val, H, W) uint8
    val_y: torch.Tensor  # (N_val,) int64
    test_x: torch.Tensor  # (N_test, H, W) uint8
    test_y: torch.Tensor  # (N_test,) int64
    mean: float
    std: float
    classes: tuple[str, ...]


def load_images(
    config: ImageConfig, parallel: Parallel, log: Callable[[str], None] | None = None
) -> ImageData:
    """The data set ``config`` names: rank 0 fetches it first, the other ranks then read the
    cache it filled (one download per machine)."""
    data = None
    for turn in (True, False):
        if data is None and parallel.is_main == turn:
            data = load_dataset(
                config.dataset, folder=config.data_dir, download=config.download, log=log
            )
        if turn:
            parallel.sum(0.0)  # a barrier
    assert data is not None
    return data


def split(config: ImageConfig, data: ImageData, device: torch.device) -> Splits:
    """Hold ``config.val_size`` training images out (a permutation drawn from ``seed + 1``:
    the same split for a given seed)."""
    n = len(data.train_labels)
    if config.val_size >= n:
        raise ValueError(
            f"val_size={config.val_size} leaves no training image out of {n}; lower it."
        )
    gen = torch.Generator().manual_seed(config.seed + 1)
    perm = torch.randperm(n, generator=gen)  # a fixed split for a given seed
    val_idx, train_idx = perm[: config.val_size], perm[config.val_size :]
    x = torch.from_numpy(np.array(data.train_images))
    y = torch.from_numpy(np.array(data.train_labels))
    spec = DATASETS[config.dataset]
    return Splits(
        train_x=x[train_idx].to(device),
        train_y=y[train_idx].to(device),
        val_x=x[val_idx].to(device),
        val_y=y[val_idx].to(device),
        test_x=torch.from_numpy(np.array(data.test_images)).to(device),
        test_y=torch.from_numpy(np.array(data.test_labels)).to(device),
        mean=spec.mean,
        std=spec.std,
        classes=data.classes,
    )


def normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 ``(B, H, W)`` -> float ``(B, 1, H, W)``, ``(x / 255 - mean) / std``."""
    return ((x.float() / 255.0 - mean) / std).unsqueeze(1)


def shift_images(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of ``(B, 1, H, W)`` by up to ``max_shift`` pixels (zero fill
    in normalised units of the background: the padding value is the image minimum)."""
    b, _, hgt, wid = x.shape
    pad = F.pad(x, (max_shift,) * 4, value=float(x.min()))  # (B, 1, H+2s, W+2s)
    offs = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator)
    rows = offs[0].to(x.device)[:, None] + torch.arange(hgt, device=x.device)  # (B, H)
    cols = offs[1].to(x.device)[:, None] + torch.arange(wid, device=x.device)  # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    return pad[idx_b, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


def batch_generator(epoch_state: torch.Tensor, j: int) -> torch.Generator:
    """A generator for the augmentation of batch ``j``: derived from the state the loader's
    generator had at the start of the epoch and the batch index, so a run resumed mid-epoch
    draws the same shifts (and the loader's generator draws nothing for them)."""
    start = torch.Generator()
    start.set_state(epoch_state)
    seed = int(torch.randint(0, 2**62, (1,), generator=start).item())
    return torch.Generator().manual_seed(seed + 1_000_003 * (j + 1))


@torch.no_grad()
def predict(model: nn.Module, x: torch.Tensor, s: Splits, batch: int = 1000) -> torch.Tensor:
    """Predicted classes ``(N,)`` for uint8 images ``(N, H, W)`` (the model is left in
    training mode)."""
    model.eval()
    out = [
        model(normalise(x[i : i + batch], s.mean, s.std)).argmax(1) for i in range(0, len(x), batch)
    ]
    model.train()
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x.device)


def accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float((pred == y).float().mean()) if len(y) else float("nan")


def sharded_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: Splits, parallel: Parallel
) -> float:
    """Accuracy on ``(N, H, W)`` images, each rank predicting its share ``[rank::world]``."""
    if not len(y):
        return float("nan")
    correct = int((predict(model, parallel.shard(x), s) == parallel.shard(y)).sum())
    return parallel.sum(correct) / len(y)
