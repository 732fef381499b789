"""MNIST / Fashion-MNIST accuracy and speed of the H-DNN image classifier.

Compares, on each data set and with the same training loop (``hamnets.training.run_images``):

* the paper's protocol for H1_J1, H1_J2 and MS1 (Adam lr 0.04 with the per-model weight decay,
  x0.8 per epoch, batch 100, 10 epochs, smoothness regulariser; per-model h and alpha);
* our best configuration (``best``: see ``CONFIGS``);
* multinomial logistic regression on the pixels (``logistic``), the papers' baseline.

Reported: final-epoch test accuracy (never the best epoch), validation accuracy, training
images/s and wall seconds. With ``--epochs N`` below 10 the run is labelled as such and the
10-epoch wall time is extrapolated from the measured seconds per epoch. ``--threads-sweep``
first times training steps at 1 and 2 torch threads.

Usage::

    python benchmarks/mnist.py --only paper_H1_J1 paper_H1_J2 paper_MS1 logistic   # CPU
    python benchmarks/mnist.py --epochs 1 --only paper_H1_J1 logistic --datasets mnist
    python benchmarks/mnist.py --device cuda --only two_stage_MS1_32 --append

Runs recorded before the image classifier's fused planes became the default on a CPU used
the plain layer loop: ``--no-fused`` reproduces them (the same function to float rounding;
``settings.fused`` in the results says which path a run took, absent meaning plain).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from hamnets.datasets import load_dataset
from hamnets.training import ImageConfig, RunOptions, build_image_model, run_images

#: name -> ImageConfig overrides (dataset and epochs are set per run).
CONFIGS: dict[str, dict] = {
    "paper_H1_J1": {"model": "H1_J1"},
    "paper_H1_J2": {"model": "H1_J2"},
    "paper_MS1": {"model": "MS1"},
    # Our changes (chosen on a validation split, never on the test set): MS1 with 16 channels
    # instead of 8, Adam lr 0.005 instead of 0.04 and weight decay 1e-4 instead of 1e-3; same
    # 4-layer H-DNN (the only non-linearity), h, alpha, batch and x0.8 schedule. With lr 0.04
    # the 6272-wide read-out overshoots (epoch-1 training loss > 1) and Adam's coupled L2 decay
    # shrinks the read-out's rarely-used weights; the paper runs plateau near 96%.
    "best": {"model": "MS1", "nf": 16, "lr": 0.005, "weight_decay": 1e-4},
    # Wider, longer, with shifts of up to 2 pixels: the papers' one-stage model.
    "wide_MS1": {
        "model": "MS1", "nf": 32, "lr": 0.005, "weight_decay": 1e-4, "shift": 2,
        "epochs": 20,
    },
    # Two stages (our extension): after the first per-pixel H-DNN, 2x2 average pooling, a 3x3
    # convolution to twice the channels and a second per-pixel H-DNN of the same kind. The
    # H-DNNs remain the model's only non-linearity. Chosen among these by validation accuracy.
    **{
        f"two_stage_{m}_{c}": {
            "model": m, "nf": c, "stages": 2, "lr": 0.005, "weight_decay": 1e-4,
            "shift": 2, "epochs": 20,
        }
        for m, c in (("MS1", 32), ("H1_J1", 32), ("H2", 32), ("MS1", 16))
    },
    "logistic": {"model": "logistic", "lr": 0.001},
}  # fmt: skip


#: keys of results written before the metrics were renamed (hamnets 0.1.0) -> today's.
_RENAMED = {
    "final_test_acc": "test_accuracy",
    "final_val_acc": "val_accuracy",
    "test_acc_per_epoch": "test_accuracy_per_epoch",
}
_RENAMED_SETTINGS = {"n_layers": "layers", "channels": "nf"}


def _renamed(run: dict) -> dict:
    """A stored run entry with today's key names (values unchanged)."""
    out = {_RENAMED.get(k, k): v for k, v in run.items()}
    if isinstance(out.get("settings"), dict):
        out["settings"] = {_RENAMED_SETTINGS.get(k, k): v for k, v in out["settings"].items()}
    return out


def time_steps(config: ImageConfig, threads: int, steps: int = 15) -> float:
    """Training images/s over ``steps`` steps of random data (after 3 warm-up steps)."""
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        gen = torch.Generator().manual_seed(0)
        model = build_image_model(config, (28, 28), 10, gen)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.randn(config.batch_size, 1, 28, 28, generator=gen)
        y = torch.randint(0, 10, (config.batch_size,), generator=gen)
        for k in range(steps + 3):
            if k == 3:
                t0 = time.perf_counter()
            loss = F.cross_entropy(model(x), y) + model.regularizer(float(config.alpha))
            opt.zero_grad()
            loss.backward()
            opt.step()
        return steps * config.batch_size / (time.perf_counter() - t0)
    finally:
        torch.set_num_threads(old)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--datasets", nargs="+", default=["mnist", "fashion_mnist"])
    p.add_argument("--only", nargs="+", default=list(CONFIGS), choices=list(CONFIGS))
    p.add_argument(
        "--epochs", type=int, default=None,
        help="epochs of every run (default: the configuration's, else 10)",
    )  # fmt: skip
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--threads-sweep", action="store_true", help="time 1 vs 2 threads first")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--runs", default="runs/bench_mnist", help="run directories go here")
    p.add_argument("--out", default="benchmarks/results/mnist.json")
    p.add_argument("--quiet", action="store_true")
    p.add_argument("--append", action="store_true", help="keep the runs already in --out")
    p.add_argument(
        "--no-fused", dest="fused", action="store_false",
        help="the plain layer loop (ImageConfig.fused = False), as the figures recorded "
        "before the fused planes became the default on a CPU",
    )  # fmt: skip
    p.add_argument("--overwrite", action="store_true", help="replace runs already in --runs")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    result: dict = {
        "benchmark": "mnist",
        "machine": {
            "platform": platform.platform(),
            "python": sys.version.split()[0],
            "torch": torch.__version__,
            "threads": args.threads,
        },
        "note": (
            "final-epoch test accuracy; 10-epoch seconds are measured when a run has 10 epochs, "
            "otherwise extrapolated as 10 x the measured seconds per epoch"
        ),
        "thread_sweep": {},
        "runs": [],
    }

    if args.append and out.is_file():
        previous = json.loads(out.read_text())
        result["runs"] = [_renamed(run) for run in previous.get("runs", [])]
        result["thread_sweep"] = previous.get("thread_sweep", {})

    def save() -> None:
        out.write_text(json.dumps(result, indent=2) + "\n")

    if args.threads_sweep:
        for name in args.only:
            cfg = ImageConfig(**CONFIGS[name])
            result["thread_sweep"][name] = {str(t): round(time_steps(cfg, t), 1) for t in (1, 2)}
            print(f"threads {name}: {result['thread_sweep'][name]} images/s", flush=True)
            save()

    for dataset in args.datasets:
        data = load_dataset(dataset, log=lambda line: print(line, file=sys.stderr))
        for name in args.only:
            settings = {"epochs": 10, **CONFIGS[name], "device": args.device}
            settings["fused"] = args.fused
            if args.epochs is not None:
                settings["epochs"] = args.epochs
            cfg = ImageConfig(dataset=dataset, seed=args.seed, **settings)
            run_dir = Path(args.runs) / f"{dataset}_{name}_e{cfg.epochs}"
            options = RunOptions(out=str(run_dir), overwrite=args.overwrite, quiet=args.quiet)
            m = run_images(cfg, options, data=data).metrics
            per_epoch = m["train_seconds"] / max(m["epochs"], 1)
            entry = {
                "dataset": dataset,
                "config": name,
                "settings": dataclasses.asdict(cfg),
                "epochs_run": m["epochs"],
                "test_accuracy": m["test_accuracy"],
                "val_accuracy": m["val_accuracy"],
                "test_accuracy_per_epoch": [r["test_accuracy"] for r in m["per_epoch"]],
                "images_per_s": round(m["images_per_s"], 1),
                "wall_seconds": round(m["wall_seconds"], 1),
                "cpu_seconds": round(m["cpu_seconds"], 1),
                "device": args.device,
                "device_name": (
                    torch.cuda.get_device_name(torch.device(args.device))
                    if args.device.startswith("cuda")
                    else platform.processor() or platform.machine()
                ),
                "ten_epoch_seconds": round(
                    m["wall_seconds"] if m["epochs"] == 10 else 10 * per_epoch, 1
                ),
                "ten_epoch_seconds_measured": m["epochs"] == 10,
                "n_parameters": m["n_parameters"],
                "run_dir": str(run_dir),
            }
            result["runs"].append(entry)
            save()
            print(
                f"{dataset:14s} {name:12s} epochs {m['epochs']:2d}  test "
                f"{100 * m['test_accuracy']:.2f}%  val {100 * m['val_accuracy']:.2f}%  "
                f"{m['images_per_s']:.0f} img/s  wall {m['wall_seconds']:.0f} s",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
