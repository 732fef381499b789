"""What the learned dissipation of pH1 does to the backward sensitivity, per sample.

Trains each model exactly as ``hamnets gradients --compare`` does (the same ClassifyConfig,
seeds and generators, so the trained networks are the ones it plots) and reports, at
initialisation and after training: the batch-mean ``||dy_L/dy_0||`` (the number the CLI
prints), the smallest per-sample ``||dy_L/dy_0||`` and the smallest singular value over the
training inputs; for H1 and pH1 per layer the median state norm ``|y_j|`` and the mean
``tanh'(K_j^T y_j + b_j)`` (saturation), and for pH1 the largest eigenvalue of ``h R_j``. Writes
``benchmarks/results/dissipation.json``.

    .venv/bin/python benchmarks/dissipation.py      # about 3 min of one CPU core
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import torch

from hamnets.analysis import backward_sensitivity, smallest_singular_value, spectral_norm
from hamnets.hdnn import H1, DissipativeH1, HamiltonianDNN, build_hdnn
from hamnets.training import ClassifyConfig, RunOptions, fit_classifier
from hamnets.training.classify import load_data, seeded_generators

HERE = Path(__file__).resolve().parent


def measure(model: HamiltonianDNN, x: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        model = model.double()
    bsm0 = backward_sensitivity(model, x.double())[:, 0]  # (n, nf, nf): dy_L/dy_0 per sample
    out = {
        "mean_bsm_norm": float(spectral_norm(bsm0.mean(0))),
        "min_sample_norm": float(spectral_norm(bsm0).min()),
        "min_singular_value": float(smallest_singular_value(bsm0).min()),
    }
    with torch.no_grad():
        if isinstance(model, H1):
            ys = model(x.double(), return_states=True)  # (L+1, n, nf)
            out["median_state_norm"] = ys.norm(dim=2).median(dim=1).values.tolist()
            act = [torch.tanh(ys[j] @ model.K[j] + model.b[j]) for j in range(model.n_layers)]
            out["mean_tanh_prime"] = [float((1 - s**2).mean()) for s in act]
        if isinstance(model, DissipativeH1):
            eig = torch.linalg.eigvalsh(model.dissipation()).amax(-1)  # (L,)
            out["h_lambda_max_R"] = (model.h * eig).tolist()
            out["max_eig_hR"] = float(model.h * eig.max())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["H1_J1", "pH1_J1", "H1_J2", "pH1_J2"])
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--out", default=str(HERE / "results" / "dissipation.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = ClassifyConfig(epochs=args.epochs)  # swiss_roll, L = 16, T = 1.2, as --compare
    results = {}
    for name in args.models:
        cfg = dataclasses.replace(base, model=name)
        gens = seeded_generators(cfg.seed)
        x = load_data(cfg, gens["data"]).x_train  # (n, nf)
        init = build_hdnn(name, cfg.nf, cfg.layers, cfg.t_end, generator=gens["init"])
        first = measure(init, x)
        result = fit_classifier(cfg, RunOptions(folder=False, quiet=True))
        results[name] = {"initial": first, "trained": measure(result.model, x),
                         "test_accuracy": result.metrics["test_accuracy"]}  # fmt: skip
        print(name, json.dumps(results[name]))
    Path(args.out).write_text(json.dumps({"config": base.to_dict(), "models": results}, indent=1))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
