"""Training on MNIST-format image sets: the H-DNN papers' protocol, done reproducibly.

:func:`run_mnist` trains an :class:`~hamnets.vision.HDNNImageClassifier` (or the
logistic-regression baseline) with Adam and a per-epoch step decay, adds the H-DNN smoothness
regulariser to the cross-entropy, keeps 5000 training images aside for validation, and writes a
run directory: ``config.json``, ``checkpoint.pt`` (every epoch and on Ctrl-C),
``metrics.json``, ``history.csv``, ``confusion.png``, ``samples.png``. ``resume=True`` continues
a stopped run to the same result as an uninterrupted one. Under ``torchrun`` each process trains
on its share of every global batch (DistributedDataParallel) and only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..datasets import DATASETS, ImageData, load_dataset
from ..hdnn import MODEL_NAMES
from ..vision import HDNNImageClassifier, LogisticRegression
from ._parallel import Parallel
from ._rundir import RunDir, Stopwatch, progress, resolve_device
from ._stop import StopFlag

__all__ = [
    "MnistConfig",
    "IMAGE_MODELS",
    "PAPER_HYPERPARAMETERS",
    "build_image_model",
    "run_mnist",
    "evaluate_mnist",
]

#: the baseline's name, besides the H-DNN names.
LOGISTIC = "logistic"
IMAGE_MODELS = (*MODEL_NAMES, LOGISTIC)

#: ``model -> (h, weight_decay, alpha)`` of the reference MNIST experiments. The other H-DNNs
#: get MS1's values (our choice, untuned); the baseline has no step and no regulariser.
PAPER_HYPERPARAMETERS: dict[str, tuple[float, float, float]] = {
    "MS1": (0.4, 1e-3, 1e-3),
    "H1_J1": (0.5, 4e-3, 8e-3),
    "H1_J2": (0.05, 2e-4, 1e-3),
}
_FALLBACK = (0.4, 1e-3, 1e-3)


@dataclass(frozen=True)
class MnistConfig:
    """One image-classification run. ``None`` for ``h``, ``weight_decay``, ``alpha`` means the
    model's value in :data:`PAPER_HYPERPARAMETERS` (filled in at construction).

    Attributes:
        dataset: ``mnist`` or ``fashion_mnist``.
        model: an H-DNN name or ``logistic``.
        n_layers: H-DNN layers ``L``; the final time is ``h * L``.
        h: step size.
        weight_decay: Adam's (L2) weight decay.
        alpha: weight of the smoothness regulariser.
        channels: convolution channels = the H-DNN's ``nf`` (of the first stage).
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
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        data_dir: a folder with the four IDX files to take instead of the cache's.
        download: may fetch the data set from the network when it is not cached.
    """

    dataset: str = "mnist"
    model: str = "H1_J1"
    n_layers: int = 4
    h: float | None = None
    weight_decay: float | None = None
    alpha: float | None = None
    channels: int = 8
    stages: int = 1
    lr: float = 0.04
    gamma: float = 0.8
    epochs: int = 10
    batch_size: int = 100
    val_size: int = 5000
    shift: int = 0
    seed: int = 0
    device: str = "cpu"
    data_dir: str | None = None
    download: bool = True

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
        positive = {"n_layers": self.n_layers, "channels": self.channels, "lr": self.lr}
        positive |= {"stages": self.stages}
        positive |= {"epochs": self.epochs, "batch_size": self.batch_size, "h": self.h}
        for name, value in positive.items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be > 0, got {name}={value!r}.")
        for name in ("weight_decay", "alpha", "val_size", "shift"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {name}={getattr(self, name)!r}.")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got gamma={self.gamma!r}.")


def build_image_model(
    config: MnistConfig, image_size: tuple[int, int], n_classes: int, generator: torch.Generator
) -> nn.Module:
    """The model ``config.model`` names (the one asked for, whatever it is)."""
    if config.model == LOGISTIC:
        return LogisticRegression(image_size=image_size, n_classes=n_classes, generator=generator)
    return HDNNImageClassifier(
        config.model,
        config.n_layers,
        float(config.h),
        channels=config.channels,
        image_size=image_size,
        n_classes=n_classes,
        generator=generator,
        stages=config.stages,
    )


# -- data ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Splits:
    train_x: torch.Tensor  # (N_train, H, W) uint8
    train_y: torch.Tensor  # (N_train,) int64
    val_x: torch.Tensor
    val_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    mean: float
    std: float
    classes: tuple[str, ...]


def _splits(config: MnistConfig, data: ImageData, device: torch.device) -> _Splits:
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
    return _Splits(
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


def _normalise(x: torch.Tensor, mean: float, std: float) -> torch.Tensor:
    """uint8 ``(B, H, W)`` -> float ``(B, 1, H, W)``, ``(x / 255 - mean) / std``."""
    return ((x.float() / 255.0 - mean) / std).unsqueeze(1)


def _shift(x: torch.Tensor, max_shift: int, generator: torch.Generator) -> torch.Tensor:
    """Translate each image of ``(B, 1, H, W)`` by up to ``max_shift`` pixels (zero fill
    in normalised units of the background: the padding value is the image minimum)."""
    b, _, hgt, wid = x.shape
    pad = F.pad(x, (max_shift,) * 4, value=float(x.min()))  # (B, 1, H+2s, W+2s)
    offs = torch.randint(0, 2 * max_shift + 1, (2, b), generator=generator)
    rows = offs[0].to(x.device)[:, None] + torch.arange(hgt, device=x.device)  # (B, H)
    cols = offs[1].to(x.device)[:, None] + torch.arange(wid, device=x.device)  # (B, W)
    idx_b = torch.arange(b, device=x.device)[:, None, None]
    return pad[idx_b, 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)  # (B, 1, H, W)


@torch.no_grad()
def _predict(model: nn.Module, x: torch.Tensor, s: _Splits, batch: int = 1000) -> torch.Tensor:
    """Predicted classes ``(N,)`` for uint8 images ``(N, H, W)``."""
    model.eval()
    out = [
        model(_normalise(x[i : i + batch], s.mean, s.std)).argmax(1)
        for i in range(0, len(x), batch)
    ]
    model.train()
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long, device=x.device)


def _accuracy(pred: torch.Tensor, y: torch.Tensor) -> float:
    return float((pred == y).float().mean()) if len(y) else float("nan")


def _sharded_accuracy(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, s: _Splits, parallel: Parallel
) -> float:
    """Accuracy on ``(N, H, W)`` images, each rank predicting its share ``[rank::world]``."""
    if not len(y):
        return float("nan")
    correct = int((_predict(model, parallel.shard(x), s) == parallel.shard(y)).sum())
    return parallel.sum(correct) / len(y)


# -- the loop ------------------------------------------------------------------------------
def run_mnist(
    config: MnistConfig | None,
    out_dir: str | os.PathLike,
    *,
    resume: bool = False,
    data: ImageData | None = None,
    quiet: bool = False,
    plots: bool = True,
    log: Callable[[str], None] | None = None,
    on_batch: Callable[[int, int], None] | None = None,
    parallel: Parallel | None = None,
) -> dict[str, Any]:
    """Train (or, with ``resume``, continue training) and write the run directory.

    Args:
        config: the run; with ``resume`` it must be ``None`` or equal the stored one.
        out_dir: the run directory.
        resume: continue from ``out_dir/checkpoint.pt``.
        data: the data set already loaded (default: :func:`hamnets.datasets.load_dataset`).
        quiet: no progress bar.
        plots: write ``confusion.png`` and ``samples.png``.
        log: called with one line per data source tried when fetching.
        on_batch: called as ``on_batch(epoch, batch)`` after every step (e.g. to stop a run).
        parallel: this process's place in a data-parallel job; default: from the ``torchrun``
            environment (a single process without it). Every rank draws the same global
            batches (same seeds, reshuffled every epoch) and trains on ``batch[rank::world]``;
            gradients are averaged by DDP, so the run follows the single-process one with the
            same ``batch_size``. Validation and test accuracy are computed on shards and
            summed. Only rank 0 writes the run directory and shows progress.

    Returns:
        The metrics written to ``metrics.json`` (on ranks other than 0: an empty dict).

    Raises:
        KeyboardInterrupt: after saving a checkpoint that ``resume`` continues from (Ctrl-C
            stops every rank after the same step).
    """
    parallel = Parallel.from_env() if parallel is None else parallel
    run = RunDir(out_dir)
    ckpt: dict[str, Any] | None = None
    if resume:
        ckpt = run.load_checkpoint()
        stored = MnistConfig(**ckpt["config"])
        if config is not None and config != stored:
            raise ValueError(
                f"--resume {run.path}: the stored configuration differs from the one given; "
                f"resume with the same flags (stored: {stored})."
            )
        config = stored
    if config is None:
        raise ValueError("run_mnist needs a config (or resume=True with a checkpoint).")
    device = parallel.device(resolve_device(config.device))
    parallel.check_batch(config.batch_size)
    parallel.init(device)
    quiet = quiet or not parallel.is_main
    for turn in (True, False):  # rank 0 fetches first, the others then read the cache
        if data is None and parallel.is_main == turn:
            data = load_dataset(
                config.dataset, folder=config.data_dir, download=config.download, log=log
            )
        if turn:
            parallel.sum(0.0)  # a barrier
    s = _splits(config, data, device)
    image_size = tuple(s.train_x.shape[1:])
    init_gen = torch.Generator().manual_seed(config.seed)
    model = build_image_model(config, image_size, len(s.classes), init_gen).to(device)
    optimizer = torch.optim.Adam(
        model.parameters(), lr=config.lr, weight_decay=float(config.weight_decay)
    )
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=config.gamma)
    loader_gen = torch.Generator().manual_seed(config.seed + 2)  # shuffling and augmentation
    if parallel.is_main:
        run.write_json("config.json", config)

    n_train = len(s.train_y)
    n_batches = math.ceil(n_train / config.batch_size)
    history: list[dict[str, Any]] = []
    epoch, start_batch = 0, 0
    sums = {"loss": 0.0, "correct": 0, "seen": 0}
    clock = Stopwatch()
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        loader_gen.set_state(ckpt["loader_state"])
        history = list(ckpt["history"])
        epoch, start_batch = ckpt["epoch"], ckpt["batch"]
        if parallel.is_main:  # the stored sums are over all ranks: count them once
            sums = dict(ckpt["sums"])
        clock = Stopwatch(ckpt["wall"], ckpt["cpu"])
    net = parallel.wrap(model)  # DDP averages the gradients of the ranks' shards

    def checkpoint(at_epoch: int, at_batch: int, epoch_state: torch.Tensor) -> None:
        every_rank = {key: parallel.sum(v) for key, v in sums.items()}  # a collective
        if not parallel.is_main:  # the rest of the state is the same on every rank
            return
        run.save_checkpoint(
            {
                "config": dataclasses.asdict(config),
                "epoch": at_epoch,
                "batch": at_batch,
                "sums": every_rank,
                "loader_state": epoch_state,  # generator state at the start of that epoch
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "history": history,
                "wall": clock.wall,
                "cpu": clock.cpu,
            }
        )

    bar = progress(
        total=config.epochs * n_train,
        desc=f"{config.dataset} {config.model}",
        quiet=quiet,
        initial=min(epoch * n_train + start_batch * config.batch_size, config.epochs * n_train),
        unit="img",
    )
    model.train()
    epoch_state = loader_gen.get_state()
    world = parallel.world_size
    stop = StopFlag()
    try:
        with stop:
            while epoch < config.epochs:
                epoch_state = loader_gen.get_state()
                perm = torch.randperm(n_train, generator=loader_gen).to(device)
                epoch_clock = Stopwatch()
                for j in range(start_batch, n_batches):
                    whole = perm[j * config.batch_size : (j + 1) * config.batch_size]
                    x = _normalise(s.train_x[whole], s.mean, s.std)  # (B, 1, H, W)
                    if config.shift:  # drawn for the global batch: the same on every rank
                        x = _shift(x, config.shift, _batch_gen(loader_gen, epoch_state, j))
                    x, y = parallel.shard(x), parallel.shard(s.train_y[whole])  # (B/world, ...)
                    logits = net(x)  # (B / world, K)
                    # the shard's share of the global batch's mean, so that DDP's average of
                    # the ranks' gradients is the single-process gradient
                    ce_sum = F.cross_entropy(logits, y, reduction="sum")
                    loss = ce_sum * (world / len(whole)) + model.regularizer(float(config.alpha))
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    sums["loss"] += float(ce_sum.detach())
                    sums["correct"] += int((logits.argmax(1) == y).sum())
                    sums["seen"] += len(y)
                    bar.update(len(whole))
                    if not quiet:
                        bar.set_postfix(
                            loss=f"{sums['loss'] / max(sums['seen'], 1):.4f}",
                            acc=f"{sums['correct'] / max(sums['seen'], 1):.4f}",
                            refresh=False,
                        )
                    start_batch = j + 1
                    if on_batch is not None:
                        on_batch(epoch, j)
                    if parallel.any(stop.raised):  # every rank stops after the same step
                        raise KeyboardInterrupt
                train_wall = epoch_clock.wall  # training only, before evaluation
                totals = {key: parallel.sum(v) for key, v in sums.items()}
                row = {
                    "epoch": epoch + 1,
                    "lr": optimizer.param_groups[0]["lr"],
                    "train_loss": totals["loss"] / max(totals["seen"], 1),
                    "train_acc": totals["correct"] / max(totals["seen"], 1),
                    "val_acc": _sharded_accuracy(model, s.val_x, s.val_y, s, parallel),
                    "test_acc": _sharded_accuracy(model, s.test_x, s.test_y, s, parallel),
                    "train_seconds": train_wall,
                    "images_per_s": totals["seen"] / max(train_wall, 1e-9),
                }
                history.append(row)
                scheduler.step()
                epoch, start_batch = epoch + 1, 0
                sums = {"loss": 0.0, "correct": 0, "seen": 0}
                checkpoint(epoch, 0, loader_gen.get_state())
    except KeyboardInterrupt:
        checkpoint(epoch, start_batch, epoch_state)
        bar.close()
        raise
    bar.close()
    if not parallel.is_main:
        return {}

    pred = _predict(model, s.test_x, s)
    metrics = _metrics(config, history, pred, s, clock, model)
    run.write_json("metrics.json", metrics)
    run.write_csv("history.csv", history)
    if plots:
        _write_plots(run.path, pred.cpu().numpy(), s)
    return metrics


def _batch_gen(loader_gen: torch.Generator, epoch_state: torch.Tensor, j: int) -> torch.Generator:
    """A generator for the augmentation of batch ``j``: derived from the epoch's state and the
    batch index, so a run resumed mid-epoch draws the same shifts."""
    seed = int(torch.randint(0, 2**62, (1,), generator=_from_state(epoch_state)).item())
    return torch.Generator().manual_seed(seed + 1_000_003 * (j + 1))


def _from_state(state: torch.Tensor) -> torch.Generator:
    g = torch.Generator()
    g.set_state(state)
    return g


def _metrics(
    config: MnistConfig,
    history: list[dict[str, Any]],
    pred: torch.Tensor,
    s: _Splits,
    clock: Stopwatch,
    model: nn.Module,
) -> dict[str, Any]:
    train_seconds = sum(row["train_seconds"] for row in history)
    images = len(s.train_y) * len(history)
    return {
        "dataset": config.dataset,
        "model": config.model,
        "final_test_acc": _accuracy(pred, s.test_y),
        "final_val_acc": history[-1]["val_acc"] if history else float("nan"),
        "epochs": len(history),
        "n_train": len(s.train_y),
        "n_val": len(s.val_y),
        "n_test": len(s.test_y),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "wall_seconds": clock.wall,
        "cpu_seconds": clock.cpu,
        "train_seconds": train_seconds,
        "images_per_s": images / max(train_seconds, 1e-9),
        "torch_threads": torch.get_num_threads(),
        "per_epoch": history,
    }


def _confusion(pred: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """``C[i, j]`` = number of test images of class ``i`` predicted as ``j``; ``(k, k)``."""
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def _write_plots(path: Path, pred: np.ndarray, s: _Splits) -> None:
    from matplotlib.figure import Figure  # not pyplot: no global figure state

    from ..plotting import plot_confusion, plot_misclassified

    true = s.test_y.cpu().numpy()
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    plot_confusion(fig.subplots(), _confusion(pred, true, len(s.classes)), s.classes)
    _save(fig, path / "confusion.png")
    wrong = np.flatnonzero(pred != true)[:64]
    fig = Figure(figsize=(8, 8.5), layout="constrained")
    ax = fig.subplots()
    plot_misclassified(ax, s.test_x.cpu().numpy()[wrong], pred[wrong], true[wrong], s.classes)
    _save(fig, path / "samples.png")


def _save(fig, target: Path) -> None:
    tmp = target.with_name(target.stem + ".tmp.png")
    fig.savefig(tmp, dpi=120)
    os.replace(tmp, target)


def evaluate_mnist(
    run_dir: str | os.PathLike, *, data: ImageData | None = None, device: str | None = None
) -> dict[str, Any]:
    """Re-compute the test accuracy of a run directory's checkpoint.

    Returns:
        ``{"test_acc", "val_acc", "epoch", "n_test"}``.
    """
    run = RunDir(run_dir)
    ckpt = run.load_checkpoint()
    config = MnistConfig(**ckpt["config"])
    if device is not None:
        config = dataclasses.replace(config, device=device)
    dev = resolve_device(config.device)
    if data is None:
        data = load_dataset(config.dataset, folder=config.data_dir, download=config.download)
    s = _splits(config, data, dev)
    model = build_image_model(
        config, tuple(s.train_x.shape[1:]), len(s.classes), torch.Generator()
    ).to(dev)
    model.load_state_dict(ckpt["model"])
    return {
        "test_acc": _accuracy(_predict(model, s.test_x, s), s.test_y),
        "val_acc": _accuracy(_predict(model, s.val_x, s), s.val_y),
        "epoch": ckpt["epoch"],
        "n_test": len(s.test_y),
    }
