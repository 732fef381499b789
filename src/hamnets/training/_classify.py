"""The fit loop of ``hamnets classify`` for 2D data: epochs, checkpoints, Ctrl-C, resume."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from ..analysis import GradientRecorder
from ..datasets import Toy2D, check_classification_data, make_toy2d
from ..hdnn import HamiltonianDNN, build_hdnn
from ._config import ClassifyConfig
from ._parallel import Parallel
from ._protocols import make_protocol
from ._rundir import RunDir, Stopwatch, progress, resolve_device
from ._stop import StopFlag

__all__ = ["ClassifyResult", "Interrupted", "fit_classifier", "load_data", "seeded_generators"]


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint."""


@dataclass
class ClassifyResult:
    """What a finished run leaves: the trained model and read-out, metrics and history."""

    config: ClassifyConfig
    model: HamiltonianDNN
    W: torch.Tensor  # (1, nf)
    mu: torch.Tensor  # (1,)
    data: Toy2D
    metrics: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    gradients: GradientRecorder | None = None  # with config.track_gradients

    @torch.no_grad()
    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, nf) inputs -> (n,) logits."""
        return (self.model(x) @ self.W.t()).squeeze(1) + self.mu


def seeded_generators(seed: int) -> dict[str, torch.Generator]:
    """One generator per purpose, all derived from the run's seed (the only seeding point)."""
    return {
        purpose: torch.Generator().manual_seed(seed * 1000 + offset)
        for offset, purpose in enumerate(("data", "init", "shuffle"))
    }


def load_data(config: ClassifyConfig, generator: torch.Generator) -> Toy2D:
    data = make_toy2d(
        config.dataset, nf=config.nf, input_features=config.input_features, generator=generator
    )
    check_classification_data(data.x_train, data.y_train, what=f"{config.dataset} (train)")
    check_classification_data(data.x_test, data.y_test, what=f"{config.dataset} (test)")
    if data.x_train.shape[0] < config.batch_size:
        raise ValueError(
            f"batch_size={config.batch_size} is larger than the training set "
            f"({data.x_train.shape[0]} samples); pass a smaller --batch-size."
        )
    return data


@torch.no_grad()
def _accuracy(model: HamiltonianDNN, W, mu, x, y) -> float:
    logits = (model(x) @ W.t()).squeeze(1) + mu
    return float(((logits >= 0).float() == y).float().mean())


def fit_classifier(
    config: ClassifyConfig,
    run: RunDir | None = None,
    *,
    resume: bool = False,
    quiet: bool = True,
    on_iteration: Callable[[int], None] | None = None,
    parallel: Parallel | None = None,
) -> ClassifyResult:
    """Train an H-DNN classifier on a 2D set as ``config`` says.

    Args:
        config: the frozen run description.
        run: where checkpoints go (one per epoch and one on Ctrl-C); None keeps nothing.
        resume: continue from ``run``'s checkpoint (same config) instead of starting anew.
        quiet: hide the progress bar.
        on_iteration: called with the global step number after every training step.
        parallel: this process's place in a data-parallel job; default: from the ``torchrun``
            environment (a single process without it). Every rank gets the same global
            batches (same seeds) and trains on its shard ``batch[rank::world]``; only rank 0
            writes checkpoints and shows progress.

    Returns:
        The trained model, its read-out, the data, metrics and the per-epoch history.

    Raises:
        Interrupted: after Ctrl-C, once the checkpoint is saved.
    """
    parallel = Parallel.from_env() if parallel is None else parallel
    device = parallel.device(resolve_device(config.device))
    parallel.check_batch(config.batch_size)
    parallel.init(device)
    quiet = quiet or not parallel.is_main
    gens = seeded_generators(config.seed)  # the same on every rank: same data and batches
    data = load_data(config, gens["data"])
    model = build_hdnn(
        config.model,
        config.nf,
        config.layers,
        config.t_end,
        graph=config.topology(),
        generator=gens["init"],
    ).to(device)
    protocol = make_protocol(model, config, device, parallel)
    if run is not None and not resume and parallel.is_main:  # once data and model are valid
        run.write_json("config.json", config)
    gradients = GradientRecorder() if config.track_gradients else None
    x_train, y_train = data.x_train.to(device), data.y_train.to(device)
    n = x_train.shape[0]
    steps_per_epoch = n // config.batch_size

    epoch, batch, perm, history, clock = 0, 0, None, [], Stopwatch()
    sums = {"loss": 0.0, "correct": 0, "seen": 0}  # running sums of the current epoch
    if resume:
        if run is None:
            raise ValueError("resume needs a run folder.")
        ckpt = run.load_checkpoint()
        if ckpt["config"] != config.to_dict():
            raise ValueError(f"the checkpoint in {run.path} was made with another configuration.")
        model.load_state_dict(ckpt["model"])
        protocol.load_state_dict(ckpt["protocol"])
        gens["shuffle"].set_state(ckpt["shuffle_state"])
        epoch, batch, perm, history = ckpt["epoch"], ckpt["batch"], ckpt["perm"], ckpt["history"]
        if parallel.is_main:  # the stored sums are over all ranks: count them once
            sums = ckpt["sums"]
        clock = Stopwatch(ckpt["wall_seconds"], ckpt["cpu_seconds"])
        if gradients is not None:
            gradients.load_state_dict(ckpt["gradients"])
        if ckpt.get("done"):
            epoch = config.epochs

    def checkpoint(done: bool = False) -> None:
        if run is None:
            return
        every_rank = {key: parallel.sum(v) for key, v in sums.items()}  # a collective
        if not parallel.is_main:  # the rest of the state is the same on every rank
            return
        run.save_checkpoint(
            {
                "config": config.to_dict(),
                "model": model.state_dict(),
                "protocol": protocol.state_dict(),
                "shuffle_state": gens["shuffle"].get_state(),
                "epoch": epoch,
                "batch": batch,
                "perm": perm,
                "history": history,
                "sums": every_rank,
                "wall_seconds": clock.wall,
                "cpu_seconds": clock.cpu,
                "done": done,
                **({"gradients": gradients.state_dict()} if gradients is not None else {}),
            }
        )

    bar = progress(
        config.epochs * steps_per_epoch,
        desc=f"{config.model} {config.dataset}",
        quiet=quiet,
        initial=epoch * steps_per_epoch + batch,
    )
    with bar, StopFlag() as stop:
        while epoch < config.epochs:
            if batch == 0 or perm is None:
                perm = torch.randperm(n, generator=gens["shuffle"])
                sums = {"loss": 0.0, "correct": 0, "seen": 0}
            perm_dev = perm.to(device)
            while batch < steps_per_epoch:
                whole = perm_dev[batch * config.batch_size : (batch + 1) * config.batch_size]
                idx = parallel.shard(whole)  # (B / world,): this rank's share of the batch
                step = epoch * steps_per_epoch + batch
                loss, correct = protocol.train_step(
                    x_train[idx], y_train[idx], epoch, step, steps_per_epoch
                )
                sums["loss"] += loss * idx.shape[0]  # weighted by the shard's size
                sums["correct"] += correct
                sums["seen"] += idx.shape[0]
                if gradients is not None:
                    # on the global batch, as one process would (only rank 0 saves it)
                    gradients.record(step, model, x_train[whole])
                batch += 1
                bar.update(1)
                if on_iteration is not None:
                    on_iteration(step)
                if parallel.any(stop.raised):  # all ranks stop after the same step
                    checkpoint()
                    raise Interrupted(f"interrupted in epoch {epoch}, step {batch}")
            # Epoch statistics over every rank's shard, per sample (so also across a resume
            # on another number of processes).
            totals = {key: parallel.sum(v) for key, v in sums.items()}
            history.append(
                {
                    "epoch": epoch,
                    "loss": totals["loss"] / totals["seen"] if totals["seen"] else float("nan"),
                    "batch_accuracy": totals["correct"] / max(1, totals["seen"]),
                    "lr": protocol.lr_at(epoch, (epoch + 1) * steps_per_epoch - 1, steps_per_epoch),
                    "wall_seconds": clock.wall,
                }
            )
            bar.set_postfix(
                epoch=epoch,
                loss=f"{history[-1]['loss']:.4f}",
                acc=f"{history[-1]['batch_accuracy']:.3f}",
            )
            epoch, batch, perm = epoch + 1, 0, None
            checkpoint()

    if not (resume and ckpt.get("done")):
        protocol.fit_classifier(x_train, y_train, gens["shuffle"], config.batch_size)
        checkpoint(done=True)
    model.eval()
    W, mu = protocol.classifier()
    metrics = {
        "dataset": data.name,
        "model": config.model,
        "graph": config.graph,
        "protocol": config.protocol,
        "layers": config.layers,
        "t_end": config.t_end,
        "train_accuracy": _accuracy(model, W, mu, x_train, y_train),
        "test_accuracy": _accuracy(model, W, mu, data.x_test.to(device), data.y_test.to(device)),
        "final_loss": history[-1]["loss"] if history else float("nan"),
        "epochs": config.epochs,
        "seed": config.seed,
        "wall_seconds": clock.wall,
        "cpu_seconds": clock.cpu,
        "threads": torch.get_num_threads(),
        "processes": parallel.world_size,
        "device": str(device),
    }
    return ClassifyResult(config, model, W, mu, data, metrics, history, gradients)
