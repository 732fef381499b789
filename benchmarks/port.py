"""The port-Hamiltonian systems' targets (issue 14), over seeds, with each system's recipe.

For each system and seed, ``hamnets hnn --system <s> --model port`` exactly as a user runs it
(``HNNConfig.recipe``: the system's defaults, no other setting), which also trains the MLP
baseline of (x, u, t) beside it (not for ``parametric_spring``, whose target does not use it:
``--no-baseline``); and, where a target compares with it, the conservative HNN
(``--model hnn``: for ``damped_spring`` the HNN that cannot dissipate, for
``parametric_spring`` the HNN that ignores t). Then the targets, checked per seed:

- damped_spring: learned damping within 5% of the truth; state MSE at most 1/5 of the MLP
  baseline's and of the HNN's;
- forced_pendulum, mass_spring_damper: state MSE at most 1/3 of the MLP baseline's,
  dissipated_energy_relative_error <= 0.1, energy_balance_residual <= 1e-5;
- parametric_spring: state MSE at most 1/5 of the HNN's that ignores t.

And the cost: the time of one derivative-regression step (forward, backward, Adam) of each
system's port model against a plain HNN (``HamiltonianNN`` of the same ``EnergyMLP``) on
the same rows, interleaved, median of repeats, one thread. Writes
``benchmarks/results/port.json``.

    .venv/bin/python benchmarks/port.py --jobs 2     # about 15 min on two cores

With ``--systems`` naming some of the systems, the others' rows in the file are kept (the
targets' verdict is then over all of them).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEMS = ("damped_spring", "forced_pendulum", "mass_spring_damper", "parametric_spring")
#: the systems whose targets compare with the conservative HNN
WITH_HNN = ("damped_spring", "parametric_spring")


def _run(system: str, model: str, seed: int) -> dict:
    """One run as the command line makes it (in memory, nothing written)."""
    import torch

    torch.set_num_threads(1)
    from hamnets.training import RunOptions
    from hamnets.training.hnn import HNNConfig, run_hnn

    # the MLP baseline beside the port model, where a target compares with it
    compare = model == "port" and system != "parametric_spring"
    config = HNNConfig.recipe(system=system, model=model, seed=seed, compare_baseline=compare)
    start = time.process_time()
    metrics = run_hnn(config, RunOptions(folder=False)).metrics
    metrics["process_cpu_seconds"] = time.process_time() - start
    return {"system": system, "model": model, "seed": seed, "metrics": metrics}


def _targets(system: str, port: dict, hnn: dict | None) -> dict[str, bool]:
    mse, base = port["state_mse"], port.get("baseline", {}).get("state_mse")
    if system == "damped_spring":
        assert hnn is not None
        return {
            "damping within 5%": port["dissipation_relative_error"] <= 0.05,
            "state MSE <= 1/5 MLP": mse <= base / 5,
            "state MSE <= 1/5 HNN": mse <= hnn["state_mse"] / 5,
        }
    if system == "parametric_spring":
        assert hnn is not None
        return {"state MSE <= 1/5 HNN ignoring t": mse <= hnn["state_mse"] / 5}
    return {
        "state MSE <= 1/3 MLP": mse <= base / 3,
        "dissipated energy rel. error <= 0.1": port["dissipated_energy_relative_error"] <= 0.1,
        "energy balance residual <= 1e-5": port["energy_balance_residual"] <= 1e-5,
    }


def step_cost(system: str, repeats: int, steps: int) -> dict[str, float]:
    """Seconds per derivative-regression step: the port model against a plain HNN with the
    same energy network on the same rows, interleaved, medians."""
    import torch

    torch.set_num_threads(1)
    from hamnets.hnn import EnergyMLP, HamiltonianNN
    from hamnets.training.hnn import SYSTEMS as TASK_SYSTEMS
    from hamnets.training.hnn import HNNConfig
    from hamnets.training.hnn._run import build_networks

    config = HNNConfig.recipe(system=system, model="port", compare_baseline=False)
    data = TASK_SYSTEMS[system].data(torch.Generator().manual_seed(0), denoise=config.denoise)
    port = build_networks(config, torch.Generator().manual_seed(1))["model"]
    dim = data.dxdt.shape[1]
    plain = HamiltonianNN(EnergyMLP(dim, config.hidden, generator=torch.Generator().manual_seed(1)))
    x, y = data.x_fit, data.dxdt
    cases = {
        "port": (port, x, torch.optim.Adam(port.param_groups(config.lr, config.structure_lr))),
        "hnn": (plain, x[:, :dim], torch.optim.Adam(plain.parameters(), lr=config.lr)),
    }
    times: dict[str, list[float]] = {k: [] for k in cases}
    for _ in range(repeats):
        for name, (net, rows, opt) in cases.items():
            start = time.perf_counter()
            for _ in range(steps):
                loss = (net(rows) - y).pow(2).mean()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            times[name].append((time.perf_counter() - start) / steps)
    port_s, hnn_s = statistics.median(times["port"]), statistics.median(times["hnn"])
    return {"rows": int(x.shape[0]), "port_step_s": port_s, "hnn_step_s": hnn_s,
            "ratio": port_s / hnn_s}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=SYSTEMS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (one thread each)")
    parser.add_argument("--out", default=str(HERE / "results" / "port.json"))
    args = parser.parse_args()
    jobs = [(s, "port", seed) for s in args.systems for seed in args.seeds]
    jobs += [(s, "hnn", seed) for s in args.systems if s in WITH_HNN for seed in args.seeds]
    start = time.time()
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        results = list(pool.map(_run, *zip(*jobs, strict=True)))
    runs = {(r["system"], r["model"], r["seed"]): r["metrics"] for r in results}
    table, all_met = {}, True
    for system in args.systems:
        rows = []
        for seed in args.seeds:
            port = runs[(system, "port", seed)]
            hnn = runs.get((system, "hnn", seed))
            met = _targets(system, port, hnn)
            all_met &= all(met.values())
            rows.append({
                "seed": seed,
                "state_mse": port["state_mse"],
                "baseline_state_mse": port.get("baseline", {}).get("state_mse"),
                "hnn_state_mse": None if hnn is None else hnn["state_mse"],
                "dissipation_relative_error": port.get("dissipation_relative_error"),
                "dissipated_energy_relative_error": port.get("dissipated_energy_relative_error"),
                "energy_balance_residual": port["energy_balance_residual"],
                "learned_damping": port["learned_damping"],
                "process_cpu_seconds": port["process_cpu_seconds"],
                "targets": met,
            })  # fmt: skip
        table[system] = rows
        print(f"\n{system}")
        print("seed  state_mse   MLP        HNN        damp.err  diss.err  balance   targets")
        for r in rows:
            hnn_mse = "-" if r["hnn_state_mse"] is None else f"{r['hnn_state_mse']:.3g}"
            base = r["baseline_state_mse"]
            base = "-" if base is None else f"{base:.3g}"
            d = r["dissipation_relative_error"]
            e = r["dissipated_energy_relative_error"]
            print(
                f"{r['seed']:<5} {r['state_mse']:<10.3g} {base:<10} "
                f"{hnn_mse:<10} {'-' if d is None else f'{d:.3g}':<9} "
                f"{'-' if e is None else f'{e:.3g}':<9} {r['energy_balance_residual']:<9.2g} "
                f"{'all met' if all(r['targets'].values()) else r['targets']}"
            )
    print(f"\nruns took {time.time() - start:.0f} s; every target met for every seed: {all_met}")
    cost = {s: step_cost(s, repeats=5, steps=20) for s in args.systems}
    print("\ncost of one training step (rows, port, plain HNN, ratio):")
    for s, c in cost.items():
        print(f"  {s:<20} {c['rows']:>5} {c['port_step_s'] * 1e3:7.2f} ms "
              f"{c['hnn_step_s'] * 1e3:7.2f} ms  {c['ratio']:.2f}x")  # fmt: skip
    out = {
        "systems": table,
        "all_targets_met": all_met,
        "step_cost": cost,
        "recipes": {s: _recipe(s) for s in args.systems},
        "load_average": os.getloadavg(),
        "torch_threads": 1,
        "systems_run": list(args.systems),
    }
    kept = _merge(out, Path(args.out)) if set(args.systems) != set(SYSTEMS) else []
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2))
    print(f"wrote {args.out}" + (f" (the rows of {', '.join(kept)} kept from it)" if kept else ""))


def _merge(out: dict, path: Path) -> list[str]:
    """Run for some systems only: ``out`` takes the other systems' rows, step costs and
    recipes from the file already at ``path`` (and its other keys), and ``all_targets_met``
    is recomputed over all of them; returns the systems kept. Nothing is kept from a file
    that is missing or not this script's JSON."""
    try:
        previous = json.loads(path.read_text())
        old_rows = previous["systems"]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    kept = [s for s in old_rows if s not in out["systems"]]
    for key in ("systems", "step_cost", "recipes"):
        out[key] = {**previous.get(key, {}), **out[key]}
    for key, value in previous.items():
        out.setdefault(key, value)
    out["all_targets_met"] = all(
        all(row["targets"].values()) for rows in out["systems"].values() for row in rows
    )
    return kept


def _recipe(system: str) -> dict:
    from hamnets.training.hnn import SYSTEMS as TASK_SYSTEMS

    return dict(TASK_SYSTEMS[system].defaults)


if __name__ == "__main__":
    main()
