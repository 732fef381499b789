"""``hamnets classify`` on MNIST-format image sets: the papers' protocol on the training engine.

:func:`run_images` trains an :class:`~hamnets.vision.HDNNImageClassifier` (or the
logistic-regression baseline) with Adam and a per-epoch step decay, adds the H-DNN smoothness
regulariser to the cross-entropy and keeps ``val_size`` training images aside for validation.
The engine gives it resume, Ctrl-C, checkpoints (every epoch), the non-finite guard and
progress; a run folder holds ``config.json``, ``checkpoint.pt``, ``metrics.json``,
``history.csv``, ``confusion.png`` and ``samples.png``. Under ``torchrun`` each process trains
on its share of every global batch (DistributedDataParallel) and only rank 0 writes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...datasets import ImageData, load_dataset
from ...vision import HDNNImageClassifier, LogisticRegression
from .._adam import adam
from .._device import resolve_device
from .._engine import DONE, Phase, Stopwatch
from .._parallel import Parallel
from .._resources import FLOAT, HDNN_ACTIVATIONS, hdnn_parameters
from .._rundir import FORMAT
from .._session import RunOptions, RunResult, RunSession
from ._config import LOGISTIC, ImageConfig
from ._data import (
    Splits,
    batch_generator,
    load_images,
    normalise,
    sharded_accuracy,
    shift_images,
    split,
)
from ._report import image_metrics, write_image_outputs

__all__ = ["build_image_model", "memory_parts", "run_images"]


def memory_parts(
    config: ImageConfig, image_size: tuple[int, ...], n_images: int
) -> dict[str, float]:
    """Bytes an image run needs at once (see :mod:`hamnets.training._resources`): per stage a
    3x3 convolution and an H-DNN at every pixel; each further stage pools 2x2 and doubles the
    channels; the linear head reads every pixel of the last stage."""
    pixels = math.prod(image_size[-2:]) if len(image_size) >= 2 else 784
    channels_in, nf, params, activations = 1, config.nf, 0, 0
    if config.model == LOGISTIC:
        params = pixels * 10 + 10
        activations = 2 * config.batch_size * pixels
    else:
        for _ in range(config.stages):
            params += 9 * channels_in * nf + nf + hdnn_parameters(nf, config.layers)
            activations += (HDNN_ACTIVATIONS * config.layers + 2) * config.batch_size * pixels * nf
            channels_in, nf, pixels = nf, 2 * nf, max(1, pixels // 4)
        params += channels_in * 4 * pixels * 10 + 10
    return {
        "parameters": FLOAT * params,
        "gradients and Adam state": 3 * FLOAT * params,
        "activations": FLOAT * activations,
        "data": (1 + FLOAT) * n_images * math.prod(image_size),  # uint8 and one float copy
    }


def build_image_model(
    config: ImageConfig, image_size: tuple[int, int], n_classes: int, generator: torch.Generator
) -> nn.Module:
    """The model ``config.model`` names (the one asked for, whatever it is)."""
    if config.model == LOGISTIC:
        return LogisticRegression(image_size=image_size, n_classes=n_classes, generator=generator)
    return HDNNImageClassifier(
        config.model,
        config.layers,
        float(config.h),
        channels=config.nf,
        image_size=image_size,
        n_classes=n_classes,
        generator=generator,
        stages=config.stages,
        fused=None if config.fused else False,
    )


class EpochDecay:
    """The learning rate times ``gamma`` after every epoch (what ``StepLR(step_size=1)`` does,
    the same products), for any optimiser with ``param_groups`` (the fused Adam of
    :mod:`hamnets.training._adam` included).

    The rates themselves live in the optimiser's state; this keeps the epoch count. A
    checkpoint's ``StepLR`` state (runs made before) loads too.
    """

    def __init__(self, optimizer: Any, gamma: float) -> None:
        self.optimizer, self.gamma, self.last_epoch = optimizer, gamma, 0

    def step(self) -> None:
        self.last_epoch += 1
        for group in self.optimizer.param_groups:
            group["lr"] = group["lr"] * self.gamma

    def state_dict(self) -> dict[str, Any]:
        return {"gamma": self.gamma, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.last_epoch = int(state["last_epoch"])


class _Task:
    """The state of an image run besides the current epoch's: network, Adam, the step decay."""

    def __init__(self, model: nn.Module, optimizer, scheduler) -> None:
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])

    def parameters(self) -> Iterable[torch.Tensor]:
        return self.model.parameters()


class _Epochs:
    """The training phase: ``epochs * n_batches`` steps, one period per epoch.

    The loader's generator (seeded ``seed + 2``) draws one permutation per epoch; the shifts
    of batch ``j`` come from :func:`batch_generator` of the state it had at the epoch's start.
    Every rank draws the same global batch and trains on ``batch[rank::world]``; the loss is
    the shard's share of the global batch's mean, so DDP's average of the ranks' gradients is
    the single-process gradient.
    """

    def __init__(self, config: ImageConfig, s: Splits, task: _Task, net: nn.Module,
                 loader: torch.Generator, parallel: Parallel) -> None:  # fmt: skip
        self.config, self.s, self.task, self.net = config, s, task, net
        self.loader, self.parallel = loader, parallel
        self.n_batches = math.ceil(len(s.train_y) / config.batch_size)
        self.perm: torch.Tensor | None = None  # (N_train,) this epoch's order
        self.epoch_state = loader.get_state()  # the loader's state at this epoch's start
        self.next_batch = 0
        self.clock = Stopwatch()  # this epoch's training time (evaluation excluded)

    def step(self, index: int) -> dict[str, float]:
        cfg, s, model = self.config, self.s, self.task.model
        j = index % self.n_batches
        if j == 0 or self.perm is None:  # a new epoch, or the first step after a resume
            self.epoch_state = self.loader.get_state()
            self.perm = torch.randperm(len(s.train_y), generator=self.loader).to(s.train_y.device)
            self.clock = Stopwatch()
        whole = self.perm[j * cfg.batch_size : (j + 1) * cfg.batch_size]  # (B,)
        x = normalise(s.train_x[whole], s.mean, s.std)  # (B, 1, H, W)
        if cfg.shift:  # drawn for the global batch: the same on every rank
            x = shift_images(x, cfg.shift, batch_generator(self.epoch_state, j))
        x, y = self.parallel.shard(x), self.parallel.shard(s.train_y[whole])  # (B / world, ...)
        logits = self.net(x)  # (B / world, K)
        ce_sum = F.cross_entropy(logits, y, reduction="sum")
        world = self.parallel.world_size
        loss = ce_sum * (world / len(whole)) + model.regularizer(float(cfg.alpha))
        self.task.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.task.optimizer.step()
        self.next_batch = j + 1
        correct = int((logits.argmax(1) == y).sum())
        return {"loss": float(ce_sum.detach()), "correct": correct, "seen": len(y)}

    def end_period(self, totals: Mapping[str, float], done: int) -> dict[str, Any]:
        """The epoch's row (validation and test accuracy computed on shards), then the
        learning rate's decay."""
        train_seconds = self.clock.wall  # training only, before evaluation
        s, model, parallel = self.s, self.task.model, self.parallel
        seen = totals.get("seen", 0.0)
        row = {
            "epoch": done // self.n_batches,
            "lr": self.task.optimizer.param_groups[0]["lr"],
            "train_loss": totals.get("loss", 0.0) / max(seen, 1),
            "train_accuracy": totals.get("correct", 0.0) / max(seen, 1),
            "val_accuracy": sharded_accuracy(model, s.val_x, s.val_y, s, parallel),
            "test_accuracy": sharded_accuracy(model, s.test_x, s.test_y, s, parallel),
            "train_seconds": train_seconds,
            "images_per_s": seen / max(train_seconds, 1e-9),
        }
        self.task.scheduler.step()
        return row

    def state_dict(self) -> dict[str, Any]:
        """Mid-epoch: the loader's state at the epoch's start (the permutation and the shifts
        are drawn again from it); between epochs: its state now."""
        mid_epoch = self.perm is not None and self.next_batch < self.n_batches
        return {"loader_state": self.epoch_state if mid_epoch else self.loader.get_state()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.loader.set_state(state["loader_state"])
        self.perm = None


#: keys of hamnets 0.1.0's history rows -> today's.
_V1_ROW = {"train_acc": "train_accuracy", "val_acc": "val_accuracy", "test_acc": "test_accuracy"}


def _migrate_v1(ckpt: dict[str, Any], n_batches: int) -> dict[str, Any]:
    """A checkpoint of hamnets 0.1.0's ``run_mnist`` (format 1) in the current format.

    It stored ``(epoch, batch)``, the loader's state at that epoch's start (after an epoch:
    at the next one's), the epoch's statistics summed over ranks, and the history with the old
    key names; ``n_batches`` is the run's batches per epoch.
    """
    config = ImageConfig.from_dict(ckpt["config"], source="checkpoint.pt (config)")
    done = ckpt["epoch"] * n_batches + ckpt["batch"]
    finished = ckpt["epoch"] >= config.epochs
    history = [{_V1_ROW.get(k, k): v for k, v in row.items()} for row in ckpt["history"]]
    return {
        "format": FORMAT,
        "kind": ImageConfig.KIND,
        "config": ckpt["config"],
        "engine": {
            "phase": DONE if finished else "train",
            "done": 0 if finished else done,
            "history": history,
            "sums": {k: float(v) for k, v in ckpt["sums"].items()},
            "wall_seconds": ckpt["wall"],
            "cpu_seconds": ckpt["cpu"],
        },
        "task": {k: ckpt[k] for k in ("model", "optimizer", "scheduler")},
        "stage": None if finished else {"loader_state": ckpt["loader_state"]},
    }


def run_images(
    config: ImageConfig | None,
    options: RunOptions | None = None,
    *,
    data: ImageData | None = None,
    parallel: Parallel | None = None,
    on_step: Callable[[str, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> RunResult:
    """Train an image classifier as ``config`` says (or continue a stopped run).

    Args:
        config: the frozen run description; with ``options.resume`` it may be None (the
            run's own), else it must describe the same run (``device``, ``data_dir`` and
            ``download`` may differ).
        options: where and how to run (:class:`~hamnets.training.RunOptions`); None trains
            in memory and writes nothing. ``options.plots`` writes ``confusion.png`` and
            ``samples.png``.
        data: the data set already loaded (default: :func:`hamnets.datasets.load_dataset` of
            ``config.dataset``, rank 0 first).
        parallel: this process's place in a data-parallel job; default: from the ``torchrun``
            environment (a single process without it). Every rank draws the same global
            batches (same seeds, reshuffled every epoch) and trains on ``batch[rank::world]``;
            DDP averages the gradients, so the run follows the single-process one with the
            same ``batch_size``. Validation and test accuracy are computed on shards and
            summed. Only rank 0 writes and shows progress.
        on_step: called as ``on_step("train", steps_done)`` after every step.
        log: called with one line per data source tried when fetching.

    Returns:
        The run folder and the metrics written to ``metrics.json`` (the keys of every
        ``classify`` run, then the image task's; see ``_report.image_metrics``); on ranks
        other than 0 no metrics.

    Raises:
        Interrupted: after Ctrl-C (every rank stops after the same step), once the checkpoint
            that ``RunOptions(resume=...)`` continues from is saved.
        Diverged: the loss or a weight became NaN or inf (``metrics.json`` says so; the
            last good checkpoint is kept).
    """
    options = RunOptions(folder=False) if options is None else options
    parallel = Parallel.from_env() if parallel is None else parallel

    def migrate(ckpt: dict[str, Any]) -> dict[str, Any]:
        nonlocal data
        stored = ImageConfig.from_dict(ckpt["config"], source="checkpoint.pt (config)")
        if data is None:  # each rank reads the cache (the process group is not up yet)
            data = load_dataset(stored.dataset, folder=stored.data_dir,
                                download=stored.download, log=log)  # fmt: skip
        n_train = len(data.train_labels) - stored.val_size
        return _migrate_v1(ckpt, math.ceil(n_train / stored.batch_size))

    with RunSession(ImageConfig, config, options, parallel, migrate=migrate) as session:
        config = session.config
        device = parallel.device(resolve_device(config.device))
        parallel.check_batch(config.batch_size)
        parallel.init(device)
        if data is None and options.check and config.download:  # --check downloads nothing
            try:
                data = load_images(dataclasses.replace(config, download=False), parallel, log)
            except FileNotFoundError:  # not cached: the run would fetch it
                session.guard(
                    memory_parts(config, (28, 28), 70_000),
                    device,
                    hint="--nf, --layers, --stages or --batch-size",
                )
                session.claim(f"{config.dataset}_{config.model}")
                return RunResult(session.plan() | {"data": "not cached; would download"})
        if data is None:
            data = load_images(config, parallel, log)
        s = split(config, data, device)
        image_size = tuple(s.train_x.shape[1:])
        session.guard(
            memory_parts(config, image_size, len(data.train_labels) + len(data.test_labels)),
            device,
            hint="--nf, --layers, --stages or --batch-size",
        )
        init_gen = torch.Generator().manual_seed(config.seed)
        model = build_image_model(config, image_size, len(s.classes), init_gen).to(device)
        optimizer = adam(model.parameters(), lr=config.lr, weight_decay=float(config.weight_decay))
        scheduler = EpochDecay(optimizer, config.gamma)
        loader = torch.Generator().manual_seed(config.seed + 2)  # shuffling and augmentation
        run = session.claim(f"{config.dataset}_{config.model}")  # once data and model are valid
        if options.check:  # everything is valid: report what would run, train nothing
            return RunResult(session.plan(), run)
        task = _Task(model, optimizer, scheduler)
        n_batches = math.ceil(len(s.train_y) / config.batch_size)

        def epochs() -> _Epochs:  # after a restore: DDP starts from the restored weights
            return _Epochs(config, s, task, parallel.wrap(model), loader, parallel)

        phase = Phase(
            "train",
            config.epochs * n_batches,
            epochs,
            period=n_batches,
            checkpoint_every=n_batches,
            desc=f"{config.dataset} {config.model}",
        )
        engine = session.engine(task, [phase], on_step=on_step)
        session.train(engine, history="per_epoch")
        if not parallel.is_main:
            return RunResult({}, run)
        metrics, pred = image_metrics(config, engine, s, model)
        if run is not None:
            write_image_outputs(run, metrics, pred, s, plots=options.plots)
        return RunResult(metrics, run)
