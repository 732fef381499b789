"""Writing the files of a finished classification run: metrics, history and pictures."""

from __future__ import annotations

import numpy as np
import torch

from .._rundir import RunDir, atomic_write
from ._run import PLOT_GRID, ClassifyResult

__all__ = ["write_classify_outputs"]


@torch.no_grad()
def write_classify_outputs(
    result: ClassifyResult, run: RunDir, *, grid: int = PLOT_GRID, plots: bool = True
) -> None:
    """Write ``metrics.json``, ``history.csv``, ``decision_boundary.png``, ``propagation.png``
    and ``propagation.gif`` into ``run``; with tracked gradients also ``gradients.npz`` and
    ``gradient_norms.png``. ``plots=False`` writes the files without pictures."""
    from ...datasets import pad_features, points_outside
    from ...plotting import (
        new_figure,
        plot_decision_boundary,
        propagation_figure,
        save_propagation_gif,
    )

    run.write_json("metrics.json", result.metrics)
    run.write_csv("history.csv", result.history)
    if result.gradients is not None:
        write_gradient_outputs(result, run, plots=plots)
    if not plots:
        return

    data, model = result.data, result.model
    device = result.W.device
    x1min, x1max, x2min, x2max = data.domain
    g1, g2 = np.meshgrid(np.linspace(x1min, x1max, grid), np.linspace(x2min, x2max, grid))
    pts = torch.as_tensor(np.column_stack([g1.ravel(), g2.ravel()]), dtype=torch.float32)
    logits = result.logits(pad_features(pts, data.nf, data.input_features).to(device))
    i, j = data.input_features
    test = data.x_test.numpy()
    labels = data.y_test.numpy()
    fig, axes = new_figure()
    acc = result.metrics["test_accuracy"]
    outside = points_outside(test[:, [i, j]], data.domain)
    note = f" ({outside} points outside the window)" if outside else ""
    plot_decision_boundary(
        axes[0, 0],
        g1,
        g2,
        logits.cpu().numpy().reshape(g1.shape),
        test[:, [i, j]],
        labels,
        title=f"{result.config.model}, L={model.n_layers}: test {acc:.2%}{note}",
    )
    run.write_figure("decision_boundary.png", fig, dpi=110)

    states = model(data.x_test.to(device), return_states=True).cpu().numpy()  # (L+1, n, nf)
    W = result.W.cpu().numpy().reshape(-1)
    mu = float(result.mu.cpu().reshape(-1)[0])
    run.write_figure("propagation.png", propagation_figure(states, labels, W, mu), dpi=100)
    target = run.file("propagation.gif")
    atomic_write(target, lambda p: save_propagation_gif(p, states, labels, W, mu))


def write_gradient_outputs(result: ClassifyResult, run: RunDir, *, plots: bool = True) -> None:
    """``gradients.npz`` (iterations (n,), norms (n, L+1)) and ``gradient_norms.png``."""
    from ...plotting import gradient_norms_figure

    rec, cfg = result.gradients, result.config
    rec.save(run.file("gradients.npz"), model=cfg.model, dataset=cfg.dataset)  # atomic
    if plots:
        title = f"{cfg.model} on {cfg.dataset}, L = {cfg.layers}"
        fig = gradient_norms_figure(rec.iterations, rec.norms, title=title)
        run.write_figure("gradient_norms.png", fig, dpi=100)
