"""The DiffEqFlux HamiltonianNN tutorial exactly as written, against our default, side by side.

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/tutorial.py            # about 30 s of one CPU core

Runs `hamnets hnn` three times on the tutorial's data (q = sin 2 pi t, p = cos 2 pi t, 1024
times in [0, 1]), each built from its config alone (`run_hnn`):

* `diffeqflux`: `--preset diffeqflux`, the tutorial as written: Dense(2 -> 1028, relu) ->
  Dense(1028 -> 1), Adam 0.01, 500 epochs of 4 in-order batches of 256, Tsit5 at solve's
  default tolerances (rtol 1e-3, atol 1e-6);
* `diffeqflux_tanh`: the same with `--activation tanh` (the one change that matters);
* `default`: `--system tutorial` with our defaults (tanh 200-200, Adam 1e-3, weight decay
  1e-4, 1000 shuffled batches of 256, rtol 1e-6, atol 1e-8).

For each it records the training loss of every step, then integrates the learned field with
Tsit5 from the tutorial's first state x(0) = (q, p) = (0, 1) over [0, 1] and [0, 10] at
both tolerance pairs, counting the field's evaluations with a wrapper, and measures the largest
distance to the exact solution (sin 2 pi t, cos 2 pi t). Writes
benchmarks/results/tutorial.json and docs/tutorial.png (phase portraits over [0, 10], loss per
step, error along the rollout, evaluations). Compared against: the exact solution, and each
other (same data, same seed, same solver).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from hamnets.datasets import tutorial_data
from hamnets.integrate import Tsit5, odeint
from hamnets.training import HNNConfig, RunOptions
from hamnets.training.hnn import PRESETS, build_networks, run_hnn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

#: the runs: name -> the configuration `hamnets hnn` builds from those flags (log_every 1:
#: a history row per step; it changes no number)
RUNS = {
    "diffeqflux": HNNConfig(**PRESETS["diffeqflux"], preset="diffeqflux", log_every=1),
    "diffeqflux_tanh": HNNConfig(
        **{**PRESETS["diffeqflux"], "activation": "tanh"}, preset="diffeqflux", log_every=1
    ),
    "default": HNNConfig(system="tutorial", steps=1000, batch_size=256, log_every=1),
}
#: the two tolerance pairs every network is rolled out with
TOLERANCES = {"solve default (1e-3, 1e-6)": (1e-3, 1e-6), "ours (1e-6, 1e-8)": (1e-6, 1e-8)}
#: saved states per unit time (the data's spacing)
PER_UNIT = 1023


class Counted(nn.Module):
    """The field ``net``, counting its evaluations (one per call, whole batch)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        return self.net(x)


def exact(t: torch.Tensor) -> torch.Tensor:
    """The tutorial's solution ``(T, 2)``: q = sin 2 pi t, p = cos 2 pi t."""
    return torch.stack([torch.sin(2 * math.pi * t), torch.cos(2 * math.pi * t)], dim=1)


def rollout(net: nn.Module, horizon: float, rtol: float, atol: float) -> dict:
    """Tsit5 from the tutorial's first state over ``[0, horizon]``: error and evaluations."""
    t = torch.linspace(0.0, horizon, int(PER_UNIT * horizon) + 1)  # float32, as trained
    x0 = exact(t[:1].double()).float()  # (1, 2)
    field = Counted(net)
    start = time.perf_counter()
    with torch.no_grad():
        pred = odeint(field, x0, t, Tsit5(rtol=rtol, atol=atol, max_steps=10**7))[:, 0]
    seconds = time.perf_counter() - start
    err = (pred.double() - exact(t.double())).norm(dim=1)  # (T,)
    every = PER_UNIT // 100 if horizon == 10 else PER_UNIT  # curves of the T = 10 rollouts only
    return {
        "horizon": horizon,
        "rtol": rtol,
        "atol": atol,
        "max_error": float(err.max()),
        "final_error": float(err[-1]),
        "evaluations": field.calls,
        "seconds": seconds,
        "t": _short(t[::every]),
        "error": _short(err[::every]),
        "q": _short(pred[::every, 0]),
        "p": _short(pred[::every, 1]),
    }


def _short(values: torch.Tensor) -> list[float]:
    """Four significant digits (the JSON holds curves for the picture, not for reuse)."""
    return [float(f"{v:.4g}") for v in values.tolist()]


def train(name: str, config: HNNConfig, folder: Path) -> tuple[nn.Module, dict]:
    """Run ``config`` into ``folder``; the trained model and the run's record."""
    start = time.process_time()
    result = run_hnn(config, RunOptions(out=str(folder / name), quiet=True, plots=False))
    cpu = time.process_time() - start
    with open(folder / name / "history.csv") as f:
        loss = [float(row["train_loss"]) for row in csv.DictReader(f)]
    ckpt = torch.load(folder / name / "checkpoint.pt", weights_only=True)
    net = build_networks(config, torch.Generator())["model"]
    net.load_state_dict(ckpt["task"]["model"])
    net.eval()
    last = loss[len(loss) // 5 :]  # steps 20% .. 100%
    # an epoch: 4 batches of 256 = the 1024 pairs; its loss is their mean
    epochs = [sum(loss[i : i + 4]) / 4 for i in range(0, len(loss) - 3, 4)]
    record = {
        "config": config.to_dict(),
        "metrics": result.metrics,
        "train_seconds": cpu,
        "loss": _short(torch.tensor(loss)),
        "loss_last_80pct": {"min": min(last), "max": max(last)},
        "epoch_loss_100_to_end": {"min": min(epochs[99:]), "max": max(epochs[99:])},
        "final_epoch_loss": epochs[-1],
    }
    return net, record


def figure(results: dict, path: Path) -> None:
    """The side-by-side picture, on explicit Axes."""
    from matplotlib.figure import Figure

    names = list(results)
    fig = Figure(figsize=(15, 8.5), layout="constrained")
    axes = fig.subplots(2, 3)
    circle = exact(torch.linspace(0, 1, 400, dtype=torch.float64))
    for ax, name in zip(axes[0], names, strict=True):
        r = results[name]["rollouts"][f"{results[name]['own']}, T=10"]
        ax.plot(circle[:, 0], circle[:, 1], "k--", lw=1, label="exact")
        ax.plot(r["q"], r["p"], lw=0.8, label="Tsit5 rollout, t in [0, 10]")
        ax.set_aspect("equal")
        ax.set_title(
            f"{name}, rtol {r['rtol']:g}: max error {r['max_error']:.3g}, "
            f"{r['evaluations']} evaluations",
            fontsize=10,
        )
        ax.set_xlabel("q")
        ax.set_ylabel("p")
        ax.legend(loc="upper right", fontsize=7)
    ax = axes[1, 0]
    for name in names:
        ax.semilogy(results[name]["loss"], lw=0.6, label=name)
    ax.set_xlabel("Adam step")
    ax.set_ylabel("batch loss (derivative MSE)")
    ax.set_title("training loss per step")
    ax.legend(fontsize=7)
    ax = axes[1, 1]
    for name in names:
        r = results[name]["rollouts"][f"{results[name]['own']}, T=10"]
        ax.semilogy(r["t"], r["error"], lw=0.8, label=name)
    ax.axvline(1.0, color="k", lw=0.5)
    ax.set_xlabel("t (data on [0, 1])")
    ax.set_ylabel("|x(t) - x_exact(t)|")
    ax.set_title("rollout error, each at its own tolerances")
    ax.legend(fontsize=7)
    ax = axes[1, 2]
    keys = [f"{tol}, T={h}" for tol in TOLERANCES for h in (1, 10)]
    labels = [f"rtol {rtol:g}\nT = {h}" for rtol, _ in TOLERANCES.values() for h in (1, 10)]
    width = 0.8 / len(names)
    for i, name in enumerate(names):
        counts = [results[name]["rollouts"][k]["evaluations"] for k in keys]
        ax.bar([j + i * width for j in range(len(keys))], counts, width, label=name)
    ax.set_yscale("log")
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(keys))])
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel("field evaluations")
    ax.set_title("Tsit5 field evaluations")
    ax.legend(fontsize=7)
    fig.savefig(path, dpi=90)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(HERE / "results" / "tutorial.json"))
    parser.add_argument("--png", default=str(ROOT / "docs" / "tutorial.png"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    t, _, _ = tutorial_data()
    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, config in RUNS.items():
            net, record = train(name, config, Path(tmp))
            own = next(k for k, v in TOLERANCES.items() if v == (config.rtol, config.atol))
            record["own"] = own
            record["rollouts"] = {
                f"{tol}, T={h}": rollout(net, float(h), rtol, atol)
                for tol, (rtol, atol) in TOLERANCES.items()
                for h in (1, 10)
            }
            results[name] = record
            epoch = record["epoch_loss_100_to_end"]
            print(f"{name}: trained in {record['train_seconds']:.1f} s CPU, epoch loss (mean of "
                  f"4 batches) from epoch 100 on in [{epoch['min']:.3g}, {epoch['max']:.3g}], "
                  f"last {record['final_epoch_loss']:.3g}")  # fmt: skip
            for key, r in record["rollouts"].items():
                print(f"  {key:32s} max error {r['max_error']:.3g}  final {r['final_error']:.3g}"
                      f"  evaluations {r['evaluations']:7d}  ({r['seconds']:.2f} s)")  # fmt: skip
    base = results["default"]["rollouts"]
    for name in results:
        for key, r in results[name]["rollouts"].items():
            r["evaluations_vs_default"] = r["evaluations"] / base[key]["evaluations"]
        for key, r in results[name]["rollouts"].items():  # curves of the pictured ones only
            if not key.startswith(results[name]["own"]):
                for curve in ("t", "error", "q", "p"):
                    del r[curve]
    text = json.dumps(results, indent=1)  # one line per list of numbers
    text = re.sub(
        r"\[\s*([-+0-9.e,\s]+?)\s*\]", lambda m: "[" + re.sub(r"\s+", "", m[1]) + "]", text
    )
    Path(args.out).write_text(text + "\n")
    figure(results, Path(args.png))
    print(f"wrote {args.out} and {args.png}")


if __name__ == "__main__":
    main()
