"""Fit and evaluate Hamiltonian neural networks on trajectory data (``hamnets hnn``).

The loop follows Greydanus et al. (2019): regress the model's field on (noisy state, clean
time derivative) pairs with Adam. Optionally (``trajectory_steps > 0``) a second stage fits
whole observed trajectories through the solver (see :func:`fit_trajectories`), which removes
the bias that noisy inputs put into derivative regression. Evaluation integrates the learned
field from ``n_eval`` initial conditions, all in one batched call, and compares against the
true system's solution.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..datasets import reference_rollout, sample_initial_conditions
from ..integrate import RK4, Leapfrog, Solver, odeint
from ..systems import HamiltonianSystem
from ._rundir import RunDir, Stopwatch, progress

SYSTEM_NAMES = ("spring", "pendulum", "two_body", "tutorial")
MODEL_NAMES = ("hnn", "separable", "baseline")
SYMMETRY_NAMES = ("none", "even", "time_reversal")
SOLVER_NAMES = ("tsit5", "dopri5", "rk4", "euler", "leapfrog", "yoshida4", "implicit_midpoint")


@dataclass(frozen=True)
class HNNConfig:
    """Everything that defines an ``hamnets hnn`` run.

    Attributes:
        system: ``spring``, ``pendulum``, ``two_body`` or ``tutorial``.
        model: ``hnn`` (learned H), ``separable`` (learned T(p) + V(q)) or ``baseline``
            (an MLP that outputs dx/dt).
        steps: Adam steps of derivative regression.
        lr: Adam learning rate.
        final_lr_fraction: cosine decay of the learning rate to ``lr * final_lr_fraction``
            over the steps; ``1.0`` keeps it constant (the reference code).
        weight_decay: Adam weight decay (1e-4 in the reference code).
        batch_size: pairs per step; 0 uses the whole training set every step.
        hidden: hidden widths of the networks.
        symmetry: a reflection the learned energy is made exactly invariant under
            (:class:`hamnets.hnn.SymmetricEnergy`): ``none``, ``even`` (``H(-x) = H(x)``) or
            ``time_reversal`` (``H(q, -p) = H(q, p)``). A prior about the true system, for
            ``hnn`` and ``separable`` models; the MLP baseline stays unconstrained.
        solver: solver of the evaluation rollouts (and of the trajectory stage).
        dt: step of fixed-step solvers.
        rtol, atol: tolerances of adaptive solvers.
        denoise: regress on states denoised with the clean derivatives
            (:func:`hamnets.datasets.denoise_with_derivatives`) instead of the noisy ones; the
            reported derivative MSEs stay those of the paper (at the noisy states).
        trajectory_steps: Adam steps of the trajectory stage (0: off).
        trajectory_lr: learning rate of the trajectory stage.
        trajectory_dt: RK4 (or leapfrog) step used inside the trajectory stage.
        compare_baseline: also train the baseline (for ``energy.png`` and the metrics).
        horizon: evaluation horizon ``T`` (the same for every sample).
        n_eval: initial conditions of the evaluation (and of the out-of-distribution one).
        eval_points: saved states per evaluation rollout, evenly spaced on ``[0, T]``.
        seed: seed of data, initialisation, batches and evaluation initial conditions.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        log_every: steps between two rows of ``history.csv``.
    """

    system: str = "spring"
    model: str = "hnn"
    steps: int = 2000
    lr: float = 1e-3
    final_lr_fraction: float = 1.0
    weight_decay: float = 1e-4
    batch_size: int = 0
    hidden: tuple[int, ...] = (200, 200)
    symmetry: str = "none"
    solver: str = "tsit5"
    dt: float = 0.01
    rtol: float = 1e-6
    atol: float = 1e-8
    denoise: bool = False
    trajectory_steps: int = 0
    trajectory_lr: float = 3e-4
    trajectory_dt: float = 0.1
    compare_baseline: bool = True
    horizon: float = 20.0
    n_eval: int = 15
    eval_points: int = 401
    seed: int = 0
    device: str = "cpu"
    log_every: int = 50

    def __post_init__(self) -> None:
        for name, allowed in (
            ("system", SYSTEM_NAMES),
            ("model", MODEL_NAMES),
            ("symmetry", SYMMETRY_NAMES),
            ("solver", SOLVER_NAMES),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"--{name} {getattr(self, name)!r} is not known; choose one of "
                    f"{', '.join(allowed)}."
                )
        for name in ("steps", "n_eval", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}."
                )
        for name in ("trajectory_steps", "batch_size"):
            if getattr(self, name) < 0:
                raise ValueError(
                    f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}."
                )
        if self.eval_points < 2:
            raise ValueError(f"--eval-points must be >= 2, got {self.eval_points}.")
        for name in ("lr", "dt", "rtol", "atol", "horizon", "trajectory_lr", "trajectory_dt"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a number > 0, got {v!r}.")
        if not 0 < self.final_lr_fraction <= 1:
            raise ValueError(
                f"--final-lr-fraction must be in (0, 1], got {self.final_lr_fraction}."
            )
        if self.weight_decay < 0:
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}.")
        if self.symmetry != "none" and self.model == "baseline":
            raise ValueError(
                f"--symmetry {self.symmetry} constrains a learned energy; the baseline has none "
                "(use --model hnn or separable, or --symmetry none)."
            )
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"--hidden needs one or more positive widths, got {self.hidden!r}.")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> HNNConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "hidden" in kwargs:
            kwargs["hidden"] = tuple(kwargs["hidden"])
        return cls(**kwargs)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during training, after the checkpoint was saved."""


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean())


@torch.no_grad()
def derivative_mse(model: nn.Module, x: torch.Tensor, dxdt: torch.Tensor, chunk: int = 4096):
    """Mean squared error of the model's field against ``dxdt`` on pairs ``(N, dim)``."""
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        total += float((model(x[i : i + chunk]) - dxdt[i : i + chunk]).pow(2).sum())
    return total / dxdt.numel()


def fit_derivatives(
    model: nn.Module,
    x: torch.Tensor,
    dxdt: torch.Tensor,
    config: HNNConfig,
    generator: torch.Generator,
    *,
    x_test: torch.Tensor | None = None,
    dxdt_test: torch.Tensor | None = None,
    label: str = "model",
    quiet: bool = True,
    on_interrupt: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """Adam on ``mean |f_theta(x) - dxdt|^2`` over pairs ``(N, dim)``; returns the history.

    Mini-batches (``config.batch_size > 0``) are drawn without replacement with ``generator``;
    ``0`` uses all pairs each step. Ctrl-C calls ``on_interrupt(step)`` and raises
    :class:`Interrupted`.
    """
    if not bool(torch.isfinite(x).all() and torch.isfinite(dxdt).all()):
        raise ValueError("the training data contain NaN or inf; refusing to train.")
    if x.shape != dxdt.shape or x.ndim != 2:
        raise ValueError(f"pairs must be (N, dim) each, got {tuple(x.shape)}, {tuple(dxdt.shape)}.")
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = x.shape[0]
    bs = n if config.batch_size in (0, None) or config.batch_size >= n else config.batch_size
    history: list[dict[str, float]] = []
    perm, pos = torch.randperm(n, generator=generator), 0
    bar = progress(config.steps, desc=f"{config.system} {label}", quiet=quiet, unit="step")
    step = 0
    try:
        for step in range(1, config.steps + 1):
            if bs == n:
                xb, yb = x, dxdt
            else:
                if pos + bs > n:
                    perm, pos = torch.randperm(n, generator=generator), 0
                idx = perm[pos : pos + bs].to(x.device)
                pos += bs
                xb, yb = x[idx], dxdt[idx]
            frac = config.final_lr_fraction
            cosine = 0.5 * (1 + math.cos(math.pi * (step - 1) / max(1, config.steps - 1)))
            for group in opt.param_groups:
                group["lr"] = config.lr * (frac + (1 - frac) * cosine)
            loss = (model(xb) - yb).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
            if step % config.log_every == 0 or step == config.steps:
                row = {"stage": label, "step": step, "train_loss": float(loss.detach())}
                if x_test is not None:
                    row["test_loss"] = derivative_mse(model, x_test, dxdt_test)
                history.append(row)
                bar.set_postfix(loss=f"{float(loss.detach()):.3g}")
    except KeyboardInterrupt as exc:
        if on_interrupt is not None:
            on_interrupt(step)
        raise Interrupted(f"interrupted at step {step} of {label}") from exc
    finally:
        bar.close()
    return history


def fit_trajectories(
    model: nn.Module,
    states: torch.Tensor,
    t: torch.Tensor,
    config: HNNConfig,
    *,
    dxdt: torch.Tensor | None = None,
    label: str = "trajectory",
    quiet: bool = True,
    on_interrupt: Callable[[int], None] | None = None,
) -> list[dict[str, float]]:
    """Noise-aware stage: fit observed trajectories through the solver.

    Each training trajectory ``i`` gets a free initial state ``z_i`` (started at its first
    noisy observation); the loss is
    ``mean_i,k |x_ik - y_ik|^2`` with ``x_i = odeint(f_theta, z_i, t)``, plus, when the clean
    derivatives ``dxdt`` are given, ``mean_i,k |f_theta(x_ik) - dxdt_ik|^2``: derivative
    regression at the *fitted* states instead of the noisy ones. Both are minimised over
    ``theta`` and ``z`` with Adam. With Gaussian observation noise this is a maximum-likelihood
    fit; unlike derivative regression on noisy inputs it is not biased by the input noise.
    Steps: RK4 (leapfrog for separable models) of size at most ``config.trajectory_dt``.

    Args:
        states: observed states ``(n_traj, T, dim)`` at times ``t`` ``(T,)``.
        dxdt: clean time derivatives ``(n_traj, T, dim)`` (optional).
    """
    z = nn.Parameter(states[:, 0].clone())  # (n_traj, dim)
    solver: Solver = (
        Leapfrog(dt=config.trajectory_dt)
        if getattr(model, "separable", False)
        else RK4(dt=config.trajectory_dt)
    )
    opt = torch.optim.Adam(
        [{"params": model.parameters()}, {"params": [z]}], lr=config.trajectory_lr
    )
    target = states.transpose(0, 1)  # (T, n_traj, dim)
    history: list[dict[str, float]] = []
    bar = progress(
        config.trajectory_steps, desc=f"{config.system} {label}", quiet=quiet, unit="step"
    )
    step = 0
    try:
        for step in range(1, config.trajectory_steps + 1):
            pred = odeint(model, z, t, solver)  # (T, n_traj, dim)
            loss = (pred - target).pow(2).mean()
            if dxdt is not None:
                fitted = pred.transpose(0, 1).reshape(-1, pred.shape[-1])  # (n_traj * T, dim)
                loss = loss + (model(fitted) - dxdt.reshape(fitted.shape)).pow(2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            bar.update(1)
            if step % config.log_every == 0 or step == config.trajectory_steps:
                history.append({"stage": label, "step": step, "train_loss": float(loss.detach())})
                bar.set_postfix(loss=f"{float(loss.detach()):.3g}")
    except KeyboardInterrupt as exc:
        if on_interrupt is not None:
            on_interrupt(step)
        raise Interrupted(f"interrupted at step {step} of {label}") from exc
    finally:
        bar.close()
    return history


@torch.no_grad()
def rollout_metrics(
    model: nn.Module,
    truth: HamiltonianSystem,
    x0: torch.Tensor,
    t: torch.Tensor,
    solver: Solver,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """Integrate ``model`` from all of ``x0`` ``(B, dim)`` in one batched call and compare with
    the true solution.

    Returns:
        metrics: ``state_mse`` (mean over times, samples and components), ``energy_mse``
        (of the true H along the prediction against its true, constant value), and
        ``energy_drift`` (median over samples of ``max_t |H(x(t)) - H(x0)| / |H(x0)|``,
        true H); the predicted ``(T, B, dim)`` and true ``(T, B, dim)`` trajectories.
    """
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    pred = odeint(model, x0.to(device, dtype), t.to(device, dtype), solver).double().cpu()
    true = reference_rollout(truth, x0, t)
    truth = truth.double()
    dim = x0.shape[1]
    h_pred = truth.hamiltonian(pred.reshape(-1, dim)).reshape(pred.shape[:2])  # (T, B)
    h_true = truth.hamiltonian(x0.double())  # (B,)
    drift = ((h_pred - h_true).abs().amax(dim=0) / h_true.abs()).median()
    metrics = {
        "state_mse": _mse(pred, true),
        "energy_mse": float((h_pred - h_true).pow(2).mean()),
        "energy_drift": float(drift),
    }
    return metrics, pred, true


def eval_initial_conditions(system: str, config: HNNConfig, *, ood: bool = False) -> torch.Tensor:
    """The ``n_eval`` evaluation initial conditions (float64), seeded apart from the data."""
    g = torch.Generator().manual_seed(config.seed + (2_000_003 if ood else 1_000_003))
    return sample_initial_conditions(system, config.n_eval, g, ood=ood)


def eval_times(config: HNNConfig) -> torch.Tensor:
    return torch.linspace(0.0, config.horizon, config.eval_points, dtype=torch.float64)


__all__ = [
    "HNNConfig",
    "Interrupted",
    "SYSTEM_NAMES",
    "MODEL_NAMES",
    "SYMMETRY_NAMES",
    "SOLVER_NAMES",
    "derivative_mse",
    "fit_derivatives",
    "fit_trajectories",
    "rollout_metrics",
    "eval_initial_conditions",
    "eval_times",
    "run_hnn",
]


def run_hnn(
    config: HNNConfig,
    *,
    truth: HamiltonianSystem,
    make_model: Callable[[torch.Generator], nn.Module],
    make_baseline: Callable[[torch.Generator], nn.Module] | None,
    solver: Solver,
    run: RunDir,
    baseline_solver: Solver | None = None,
    quiet: bool = True,
    device: torch.device | None = None,
) -> dict[str, Any]:
    """The whole ``hamnets hnn`` run: data, fit, batched evaluation rollouts, files, plots.

    Writes ``config.json``, ``history.csv``, ``checkpoint.pt``, ``metrics.json``, ``phase.png``
    and ``energy.png`` into ``run``. Ctrl-C saves ``checkpoint.pt`` (with the step reached) and
    re-raises.

    Args:
        config: the run description (stored as ``config.json``).
        truth: the true system (for ``tutorial``: the spring, whose H is ``q^2 + p^2``).
        make_model, make_baseline: build the networks from an initialisation generator;
            ``make_baseline=None`` skips the baseline.
        solver: the solver of the evaluation rollouts.
        baseline_solver: the baseline's solver (default ``solver``; the baseline is not
            separable, so a separable-only ``solver`` needs another one here).
    """
    from ..datasets import denoise_with_derivatives, trajectory_data, tutorial_data

    device = torch.device("cpu") if device is None else device
    watch = Stopwatch()
    run.write_json("config.json", config)
    g_data = torch.Generator().manual_seed(config.seed)
    g_init = torch.Generator().manual_seed(config.seed + 1)
    g_batch = torch.Generator().manual_seed(config.seed + 2)
    model = make_model(g_init).to(device)
    baseline = make_baseline(g_init).to(device) if make_baseline is not None else None
    history: list[dict[str, float]] = []

    def checkpoint(extra: Mapping[str, Any] | None = None) -> None:
        state = {
            "config": dataclasses.asdict(config),
            "model": model.state_dict(),
            "baseline": None if baseline is None else baseline.state_dict(),
            "wall_seconds": watch.wall,
            "cpu_seconds": watch.cpu,
        }
        state.update(extra or {})
        run.save_checkpoint(state)
        run.write_csv("history.csv", history)

    def interrupted(stage: str) -> Callable[[int], None]:
        return lambda step: checkpoint({"interrupted": {"stage": stage, "step": step}})

    metrics: dict[str, Any] = {"system": config.system, "model": config.model}
    if config.system == "tutorial":
        t, x, dxdt = tutorial_data()
        x, dxdt = x.to(device), dxdt.to(device)
        history += fit_derivatives(
            model,
            x,
            dxdt,
            config,
            g_batch,
            label=config.model,
            quiet=quiet,
            on_interrupt=interrupted(config.model),
        )
        metrics["train_derivative_mse"] = derivative_mse(model, x, dxdt)
        with torch.no_grad():
            pred = odeint(model, x[:1], t.to(device), solver).double().cpu()  # (N, 1, 2)
        true = x.double().cpu()[:, None]  # (N, 1, 2)
        h = truth.double().hamiltonian(pred[:, 0])  # q^2 + p^2, 1 on the data
        metrics.update(
            state_mse=_mse(pred, true),
            energy_mse=float((h - 1.0).pow(2).mean()),
            energy_drift=float((h - 1.0).abs().max()),
        )
        rollouts = {"true": true, config.model: pred}
        energies = {config.model: h[:, None]}
        t_eval, h0 = t, torch.ones(1, dtype=torch.float64)
    else:
        data = trajectory_data(config.system, g_data)
        x, dxdt = data.flat(data.train_states).to(device), data.flat(data.train_dxdt).to(device)
        x_fit = x
        if config.denoise:
            denoised = denoise_with_derivatives(data.train_states, data.train_dxdt, data.t)
            x_fit = data.flat(denoised).to(device)
        xt, dxdtt = data.flat(data.test_states).to(device), data.flat(data.test_dxdt).to(device)
        history += fit_derivatives(
            model,
            x_fit,
            dxdt,
            config,
            g_batch,
            x_test=xt,
            dxdt_test=dxdtt,
            label=config.model,
            quiet=quiet,
            on_interrupt=interrupted(config.model),
        )
        if config.trajectory_steps:
            history += fit_trajectories(
                model,
                data.train_states.to(device),
                data.t.to(device),
                config,
                dxdt=data.train_dxdt.to(device),
                quiet=quiet,
                on_interrupt=interrupted("trajectory"),
            )
        if baseline is not None:
            history += fit_derivatives(
                baseline,
                x_fit,
                dxdt,
                config,
                g_batch,
                x_test=xt,
                dxdt_test=dxdtt,
                label="baseline",
                quiet=quiet,
                on_interrupt=interrupted("baseline"),
            )
        metrics["train_derivative_mse"] = derivative_mse(model, x, dxdt)
        metrics["test_derivative_mse"] = derivative_mse(model, xt, dxdtt)
        t_eval = eval_times(config)
        x0 = eval_initial_conditions(config.system, config)
        m, pred, true = rollout_metrics(model, truth, x0, t_eval, solver)
        metrics.update(m)
        rollouts = {"true": true, config.model: pred}
        h0 = truth.double().hamiltonian(x0)
        dim = x0.shape[1]
        energies = {
            config.model: truth.double().hamiltonian(pred.reshape(-1, dim)).reshape(pred.shape[:2])
        }
        ood, _, _ = rollout_metrics(
            model, truth, eval_initial_conditions(config.system, config, ood=True), t_eval, solver
        )
        metrics["ood"] = ood
        if baseline is not None:
            bsolver = solver if baseline_solver is None else baseline_solver
            bm, bpred, _ = rollout_metrics(baseline, truth, x0, t_eval, bsolver)
            bm["train_derivative_mse"] = derivative_mse(baseline, x, dxdt)
            bm["test_derivative_mse"] = derivative_mse(baseline, xt, dxdtt)
            bm["ood"] = rollout_metrics(
                baseline,
                truth,
                eval_initial_conditions(config.system, config, ood=True),
                t_eval,
                bsolver,
            )[0]
            metrics["baseline"] = bm
            rollouts["baseline"] = bpred
            energies["baseline"] = (
                truth.double().hamiltonian(bpred.reshape(-1, dim)).reshape(bpred.shape[:2])
            )
    metrics["wall_seconds"] = watch.wall
    metrics["cpu_seconds"] = watch.cpu
    checkpoint({"metrics": metrics})
    run.write_json("metrics.json", metrics)
    _plots(run, config, t_eval, rollouts, energies, h0)
    return metrics


def _plots(run: RunDir, config: HNNConfig, t, rollouts, energies, h0) -> None:
    from ..plotting import hnn_figure, plot_energy, plot_phase, save_figure

    true = rollouts.pop("true")
    fig, (ax,) = hnn_figure()
    title = f"{config.system}: true vs learned" + (
        "" if config.system == "tutorial" else f", T={config.horizon:g}"
    )
    plot_phase(ax, true, rollouts, title=title)
    save_figure(fig, run.file("phase.png"))
    fig, (ax,) = hnn_figure(size=(6.0, 4.0))
    plot_energy(ax, t, energies, h0, title=f"{config.system}: true H along the rollouts")
    save_figure(fig, run.file("energy.png"))
