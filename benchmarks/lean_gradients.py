"""Memory and time of the memory-lean gradients against plain back-propagation.

Usage (from the repository root, after `make install`):

    .venv/bin/python benchmarks/lean_gradients.py            # about 3 min on one core
    .venv/bin/python benchmarks/lean_gradients.py --steps 1000 10000 --plain-steps 1000

The workload (issue 13): one training step (rollout, mean-square loss on every state, backward)
through a fixed-step rollout of a 2-200-200-1 tanh energy in float32, batch 64:

* RK4 on ``HamiltonianNN(EnergyMLP(2, (200, 200)))`` (the closed-form tanh gradient);
* leapfrog on ``SeparableHamiltonianNN`` with ``T`` and ``V`` each a 1-200-200-1 tanh MLP (the
  energy is separable, so the 2-200-200-1 network is split in its two halves).

Each configuration (solver, gradient, number of steps) runs in a fresh subprocess with one
torch thread. Memory, two ways: (1) ``saved_peak``: the peak over the whole training step
(forward and backward) of the bytes autograd holds for the backward pass, tracked with
``torch.autograd.graph.saved_tensors_hooks``: a storage counts from its first save until the
last tensor viewing it is freed, once however many tensors view it; the parameters are left
out; the states the lean strategies keep are saved tensors too. This is the memory that grows
with the rollout, measured exactly, free of allocator noise. (2) ``rss_rise``: the rise of the
process's peak resident set size (``ru_maxrss``) during the step over its value just before it
(after a warm-up step); coarse, since freed memory is reused and small rises vanish.

Plain back-propagation at 10^4 steps needs about 10 GB for RK4, more than this shared
machine can spare, so it is measured at ``--plain-steps`` (10^3) and extrapolated linearly in
the number of steps (its graph is one step's activations per step); the ratios at 10^4 steps
use that extrapolation, those at 10^3 are measured outright.
Time: the wall time and the process CPU time of the training step (median of ``--repeats``);
the ratios use the CPU time, which other jobs on this shared machine disturb far less.

Gradient check: in float64 (batch 16, 500 steps) the gradients of the lean strategies against
plain back-propagation, largest relative difference over all parameters and x0.

Writes JSON (default benchmarks/results/lean_gradients.json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
import weakref
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent


def build(solver_name: str, dtype: torch.dtype, seed: int = 0):
    from hamnets.hnn import EnergyMLP, HamiltonianNN, SeparableHamiltonianNN
    from hamnets.integrate import RK4, Leapfrog

    g = torch.Generator().manual_seed(seed)
    if solver_name == "rk4":
        field = HamiltonianNN(EnergyMLP(2, (200, 200), generator=g))
        solver = RK4(dt=0.01)
    else:
        kin, pot = EnergyMLP(1, (200, 200), generator=g), EnergyMLP(1, (200, 200), generator=g)
        field = SeparableHamiltonianNN(kin, pot)
        solver = Leapfrog(dt=0.01)
    return field.to(dtype), solver


def gradient_of(name: str, steps: int):
    from hamnets.integrate import Checkpointed, SymplecticAdjoint

    if name == "plain":
        return None
    if name == "adjoint":
        return SymplecticAdjoint()
    return Checkpointed(every=max(1, round(steps**0.5)))


class SavedPeak:
    """Live and peak bytes of the storages of the tensors saved for backward while the hooks
    are active. A storage counts once however many tensors view it, from its first save until
    the last of them is freed; the parameters' storages (the model, not the rollout) are left
    out."""

    def __init__(self, exclude: list[torch.Tensor]) -> None:
        self.live = self.peak = 0
        self._refs: dict[int, int] = {}
        self._skip = {p.untyped_storage().data_ptr() for p in exclude}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key in self._skip:
            return t
        if key not in self._refs:
            self._refs[key] = 0
            self.live += storage.nbytes()
            self.peak = max(self.peak, self.live)
        self._refs[key] += 1
        weakref.finalize(t, self._release, key, storage.nbytes())
        return t

    def _release(self, key: int, nbytes: int) -> None:
        self._refs[key] -= 1
        if self._refs[key] == 0:
            del self._refs[key]
            self.live -= nbytes


def training_step(field, solver, gradient, x0, steps):
    from hamnets.integrate import odeint

    t = torch.linspace(0, 0.01 * steps, 11, dtype=torch.float64)  # 10 output intervals
    ys = odeint(field, x0, t, solver, gradient=gradient)  # (11, batch, 2)
    loss = ys.pow(2).mean()
    params = list(field.parameters())
    return torch.autograd.grad(loss, [x0, *params])


def child(solver_name: str, grad_name: str, steps: int, repeats: int) -> dict:
    torch.set_num_threads(1)
    field, solver = build(solver_name, torch.float32)
    x0 = torch.randn(64, 2, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    training_step(field, solver, gradient_of(grad_name, 10), x0, 10)  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    times, cpu = [], []
    for _ in range(repeats):  # timed, and the resident-set peak, without hooks
        t0, c0 = time.perf_counter(), time.process_time()
        training_step(field, solver, gradient_of(grad_name, steps), x0, steps)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    saved = SavedPeak(list(field.parameters()))
    with torch.autograd.graph.saved_tensors_hooks(saved.pack, lambda t: t):
        training_step(field, solver, gradient_of(grad_name, steps), x0, steps)
    return {
        "saved_peak_mib": saved.peak / 2**20,
        "rss_rise_mib": (rss - before) / 1024,
        "seconds": statistics.median(times),
        "cpu_seconds": statistics.median(cpu),
    }


def run_child(solver_name, grad_name, steps, repeats) -> dict:
    cmd = [sys.executable, __file__, "--child", solver_name, grad_name, str(steps), str(repeats)]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def gradient_check(solver_name: str, steps: int = 500) -> dict:
    field, solver = build(solver_name, torch.float64)
    x0 = torch.randn(16, 2, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    x0.requires_grad_(True)
    ref = training_step(field, solver, None, x0, steps)
    out = {}
    for name in ("checkpointed", "adjoint"):
        got = training_step(field, solver, gradient_of(name, steps), x0, steps)
        rel = max(float((a - b).norm() / b.norm()) for a, b in zip(got, ref, strict=True))
        out[name] = rel
    return out


def _line(solver_name: str, grad_name: str, steps: int, r: dict) -> str:
    return (
        f"{solver_name:8s} {grad_name:12s} {steps:6d} steps: saved {r['saved_peak_mib']:9.2f} "
        f"MiB, rss +{r['rss_rise_mib']:8.1f} MiB, {r['seconds']:6.2f} s "
        f"({r['cpu_seconds']:.2f} cpu)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--plain-steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "lean_gradients.json")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        s, g, n, r = args.child
        print(json.dumps(child(s, g, int(n), int(r))))
        return

    results: dict = {"command": " ".join(["python", *sys.argv]), "runs": [], "ratios": []}
    for solver_name in ("rk4", "leapfrog"):
        plain = run_child(solver_name, "plain", args.plain_steps, args.repeats)
        results["runs"].append(
            {"solver": solver_name, "gradient": "plain", "steps": args.plain_steps, **plain}
        )
        print(_line(solver_name, "plain", args.plain_steps, plain))
        for steps in args.steps:
            scale = steps / args.plain_steps  # plain back-propagation grows linearly
            for grad_name in ("checkpointed", "adjoint"):
                r = run_child(solver_name, grad_name, steps, args.repeats)
                results["runs"].append(
                    {"solver": solver_name, "gradient": grad_name, "steps": steps, **r}
                )
                ratio = {
                    "solver": solver_name,
                    "gradient": grad_name,
                    "steps": steps,
                    "plain_extrapolated": steps != args.plain_steps,
                    "saved_peak_ratio": r["saved_peak_mib"] / (plain["saved_peak_mib"] * scale),
                    "rss_rise_ratio": r["rss_rise_mib"] / max(plain["rss_rise_mib"] * scale, 1e-9),
                    "time_ratio": r["seconds"] / (plain["seconds"] * scale),
                    "cpu_time_ratio": r["cpu_seconds"] / (plain["cpu_seconds"] * scale),
                }
                results["ratios"].append(ratio)
                print(
                    _line(solver_name, grad_name, steps, r)
                    + f" | /plain: saved {ratio['saved_peak_ratio']:.4f}"
                    f" rss {ratio['rss_rise_ratio']:.3f} time {ratio['time_ratio']:.2f}"
                    f" cpu {ratio['cpu_time_ratio']:.2f}"
                    + (" (plain extrapolated)" if ratio["plain_extrapolated"] else "")
                )
        check = gradient_check(solver_name)
        results[f"gradient_check_{solver_name}"] = check
        print(f"{solver_name:8s} float64 relative gradient difference vs plain: {check}")
    results["load_average"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
