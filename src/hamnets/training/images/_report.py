"""What a finished image run reports: ``metrics.json``, ``history.csv`` and its pictures.

``metrics.json`` has the keys of every ``classify`` run (``status``, ``train_accuracy``,
``test_accuracy``, ``final_loss``, ``epochs``, ``seed``, ``wall_seconds``, ``cpu_seconds``)
plus the image task's own (see :func:`image_metrics`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ...vision._conv_stack import uses_c_stack
from .._engine import Engine
from .._rundir import RunDir
from ._config import ImageConfig
from ._data import Splits, accuracy, predict

__all__ = ["confusion_matrix", "image_metrics", "write_image_outputs"]


def image_metrics(
    config: ImageConfig, engine: Engine, s: Splits, model: nn.Module
) -> tuple[dict[str, Any], torch.Tensor]:
    """The metrics of a finished run, and the test predictions ``(N_test,)``.

    Keys: ``status``, ``dataset``, ``model``, ``train_accuracy`` (the last epoch's running
    training accuracy), ``test_accuracy`` (of the final weights), ``val_accuracy`` (the last
    epoch's), ``final_loss`` (the last epoch's training cross-entropy), ``epochs``, ``seed``,
    ``wall_seconds``, ``cpu_seconds``, then ``n_train``, ``n_val``, ``n_test``,
    ``n_parameters``, ``train_seconds``, ``images_per_s``, ``threads``, ``c_stack`` (whether
    the model ran MS1's C stack: its rounding differs from the torch path's) and ``per_epoch`` (the
    history rows: ``epoch``, ``lr``, ``train_loss``, ``train_accuracy``, ``val_accuracy``,
    ``test_accuracy``, ``train_seconds``, ``images_per_s``).
    """
    history = engine.history
    last = history[-1] if history else {}
    nan = float("nan")
    pred = predict(model, s.test_x, s)
    train_seconds = sum(row["train_seconds"] for row in history)
    images = len(s.train_y) * len(history)
    metrics = {
        "status": "finished",
        "dataset": config.dataset,
        "model": config.model,
        "train_accuracy": last.get("train_accuracy", nan),
        "test_accuracy": accuracy(pred, s.test_y),
        "val_accuracy": last.get("val_accuracy", nan),
        "final_loss": last.get("train_loss", nan),
        "epochs": len(history),
        "seed": config.seed,
        "wall_seconds": engine.clock.wall,
        "cpu_seconds": engine.clock.cpu,
        "n_train": len(s.train_y),
        "n_val": len(s.val_y),
        "n_test": len(s.test_y),
        "n_parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": train_seconds,
        "images_per_s": images / max(train_seconds, 1e-9),
        "threads": torch.get_num_threads(),
        "c_stack": uses_c_stack(model, config.batch_size * s.test_x[0].numel()),
        "per_epoch": history,
    }
    return metrics, pred


def confusion_matrix(pred: np.ndarray, true: np.ndarray, k: int) -> np.ndarray:
    """``C[i, j]`` = number of test images of class ``i`` predicted as ``j``; ``(k, k)``."""
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k)


def write_image_outputs(
    run: RunDir, metrics: dict[str, Any], pred: torch.Tensor, s: Splits, *, plots: bool = True
) -> None:
    """Write ``metrics.json``, ``history.csv`` and (with ``plots``) ``confusion.png`` and
    ``samples.png`` (up to 64 misclassified test images) into ``run``, each atomically."""
    from matplotlib.figure import Figure  # not pyplot: no global figure state

    from ...plotting import plot_confusion, plot_misclassified

    run.write_json("metrics.json", metrics)
    run.write_csv("history.csv", metrics["per_epoch"])
    if not plots:
        return
    p, true = pred.cpu().numpy(), s.test_y.cpu().numpy()
    fig = Figure(figsize=(6.5, 5.5), layout="constrained")
    plot_confusion(fig.subplots(), confusion_matrix(p, true, len(s.classes)), s.classes)
    run.write_figure("confusion.png", fig, dpi=120)
    wrong = np.flatnonzero(p != true)[:64]
    fig = Figure(figsize=(8, 8.5), layout="constrained")
    plot_misclassified(fig.subplots(), s.test_x.cpu().numpy()[wrong], p[wrong], true[wrong],
                       s.classes)  # fmt: skip
    run.write_figure("samples.png", fig, dpi=120)
