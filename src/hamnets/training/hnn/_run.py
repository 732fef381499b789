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
from ._parallel import Parallel
from ._rundir import RunDir, Stopwatch, progress
from ._stop import StopFlag

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


class _DerivativeFit:
    """Derivative regression ``mean |f_theta(x) - dxdt|^2`` as checkpointable Adam steps.

    Mini-batches (``config.batch_size > 0``) are drawn without replacement with ``generator``
    (one permutation per pass); ``0`` uses all pairs each step. The learning rate follows the
    cosine schedule of ``config``, a function of the step number alone. :meth:`state_dict`
    holds everything the next step depends on besides the parameters and ``generator``.

    In a data-parallel job every rank draws the same global batch of ``B`` pairs and trains
    on its share ``batch[rank::world]`` of ``b_r`` pairs through DistributedDataParallel, with
    its shard's mean squared error scaled by ``b_r * world / B``: the average of the ranks'
    gradients is then the gradient of the global batch's mean, also for unequal shards.
    """

    def __init__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        dxdt: torch.Tensor,
        config: HNNConfig,
        generator: torch.Generator,
        *,
        label: str,
        x_test: torch.Tensor | None = None,
        dxdt_test: torch.Tensor | None = None,
        parallel: Parallel | None = None,
    ) -> None:
        if not bool(torch.isfinite(x).all() and torch.isfinite(dxdt).all()):
            raise ValueError("the training data contain NaN or inf; refusing to train.")
        if x.shape != dxdt.shape or x.ndim != 2:
            raise ValueError(
                f"pairs must be (N, dim) each, got {tuple(x.shape)}, {tuple(dxdt.shape)}."
            )
        self.model, self.x, self.dxdt = model, x, dxdt
        self.x_test, self.dxdt_test = x_test, dxdt_test
        self.config, self.generator, self.label = config, generator, label
        self.total = config.steps
        self.done = 0
        self.opt = torch.optim.Adam(
            model.parameters(), lr=config.lr, weight_decay=config.weight_decay
        )
        n = x.shape[0]
        self.batch = (
            n if config.batch_size in (0, None) or config.batch_size >= n else config.batch_size
        )
        self.perm, self.pos = torch.randperm(n, generator=generator), 0
        self.parallel = Parallel() if parallel is None else parallel
        if self.batch < self.parallel.world_size:
            raise ValueError(
                f"a batch of {self.batch} pairs does not split over {self.parallel.world_size} "
                f"processes; pass a --batch-size of at least {self.parallel.world_size}."
            )
        self.net = self.parallel.wrap(model)  # the module whose forward computes the field

    def step(self) -> torch.Tensor:
        """One Adam step; returns the training loss of its batch (a detached scalar; in a
        data-parallel job this rank's scaled share, whose average over the ranks is the loss
        of the global batch)."""
        x, dxdt, n, bs = self.x, self.dxdt, self.x.shape[0], self.batch
        parallel = self.parallel
        if bs == n:
            xb, yb = parallel.shard(x), parallel.shard(dxdt)  # (b_r, dim): this rank's rows
        else:
            if self.pos + bs > n:
                self.perm, self.pos = torch.randperm(n, generator=self.generator), 0
            idx = parallel.shard(self.perm[self.pos : self.pos + bs]).to(x.device)  # (b_r,)
            self.pos += bs
            xb, yb = x[idx], dxdt[idx]
        step, config = self.done + 1, self.config
        frac = config.final_lr_fraction
        cosine = 0.5 * (1 + math.cos(math.pi * (step - 1) / max(1, config.steps - 1)))
        for group in self.opt.param_groups:
            group["lr"] = config.lr * (frac + (1 - frac) * cosine)
        loss = (self.net(xb) - yb).pow(2).mean()
        if parallel.active:  # the shard's share of the global mean (see the class docstring)
            loss = loss * (xb.shape[0] * parallel.world_size / bs)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.done = step
        return loss.detach()

    def row(self, train_loss: float) -> dict[str, Any]:
        row: dict[str, Any] = {"stage": self.label, "step": self.done, "train_loss": train_loss}
        if self.x_test is not None:
            row["test_loss"] = derivative_mse(self.model, self.x_test, self.dxdt_test)
        return row

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.opt.state_dict(),
            "done": self.done,
            "perm": self.perm,
            "pos": self.pos,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.opt.load_state_dict(state["optimizer"])
        self.done, self.perm, self.pos = state["done"], state["perm"], state["pos"]


class _Trajectories(nn.Module):
    """The unknowns of the trajectory stage, the field's parameters and one initial state per
    trajectory, with the stage's loss as forward (so DistributedDataParallel can wrap it)."""

    def __init__(self, field: nn.Module, z0: torch.Tensor, solver: Solver) -> None:
        super().__init__()
        self.field = field
        self.z = nn.Parameter(z0)  # (n_traj, dim)
        self.solver = solver

    def forward(
        self,
        rows: torch.Tensor | None,
        t: torch.Tensor,
        target: torch.Tensor,
        dxdt: torch.Tensor | None,
    ) -> torch.Tensor:
        """Loss of the trajectories ``rows`` (all when None), observed as ``target``
        ``(T, b, dim)`` at ``t`` ``(T,)``, with clean derivatives ``dxdt`` ``(b, T, dim)``."""
        z = self.z if rows is None else self.z[rows]  # (b, dim)
        pred = odeint(self.field, z, t, self.solver)  # (T, b, dim)
        loss = (pred - target).pow(2).mean()
        if dxdt is not None:
            fitted = pred.transpose(0, 1).reshape(-1, pred.shape[-1])  # (b * T, dim)
            loss = loss + (self.field(fitted) - dxdt.reshape(fitted.shape)).pow(2).mean()
        return loss


class _TrajectoryFit:
    """The trajectory stage (see :func:`fit_trajectories`) as checkpointable Adam steps.

    In a data-parallel job each rank fits its share ``[rank::world]`` of the trajectories, its
    loss scaled by ``b_r * world / n_traj`` as in :class:`_DerivativeFit`; every rank holds all
    initial states, and the averaged gradient of those outside its share is the other ranks'.
    """

    def __init__(
        self,
        model: nn.Module,
        states: torch.Tensor,
        t: torch.Tensor,
        config: HNNConfig,
        *,
        dxdt: torch.Tensor | None = None,
        label: str = "trajectory",
        parallel: Parallel | None = None,
    ) -> None:
        self.parallel = parallel = Parallel() if parallel is None else parallel
        n_traj = states.shape[0]
        if n_traj < parallel.world_size:
            raise ValueError(
                f"{n_traj} training trajectories do not split over {parallel.world_size} "
                f"processes; use fewer processes."
            )
        solver: Solver = (
            Leapfrog(dt=config.trajectory_dt)
            if getattr(model, "separable", False)
            else RK4(dt=config.trajectory_dt)
        )
        self.unknowns = _Trajectories(model, states[:, 0].clone(), solver)
        self.opt = torch.optim.Adam(
            [{"params": model.parameters()}, {"params": [self.unknowns.z]}],
            lr=config.trajectory_lr,
        )
        self.rows = None
        if parallel.active:
            self.rows = parallel.shard(torch.arange(n_traj, device=states.device))  # (b_r,)
            states = states[self.rows]
            dxdt = None if dxdt is None else dxdt[self.rows]
        self.scale = states.shape[0] * parallel.world_size / n_traj
        self.t, self.dxdt, self.label = t, dxdt, label
        self.target = states.transpose(0, 1)  # (T, b_r, dim)
        self.net = parallel.wrap(self.unknowns)
        self.total = config.trajectory_steps
        self.done = 0

    def step(self) -> torch.Tensor:
        """One Adam step on the fitted trajectories' loss; returns that loss (detached)."""
        loss = self.net(self.rows, self.t, self.target, self.dxdt)
        if self.parallel.active:
            loss = loss * self.scale
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.done += 1
        return loss.detach()

    def row(self, train_loss: float) -> dict[str, Any]:
        return {"stage": self.label, "step": self.done, "train_loss": train_loss}

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.opt.state_dict(),
            "done": self.done,
            "z": self.unknowns.z.detach().clone(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.opt.load_state_dict(state["optimizer"])
        with torch.no_grad():
            self.unknowns.z.copy_(state["z"])
        self.done = state["done"]


_Stage = _DerivativeFit | _TrajectoryFit


def _train(
    stage: _Stage,
    history: list[dict[str, Any]],
    stop: StopFlag,
    *,
    desc: str,
    log_every: int,
    quiet: bool,
    on_step: Callable[[str, int], None] | None = None,
    on_interrupt: Callable[[int], None] | None = None,
    save: Callable[[], None] | None = None,
    save_every: int = 0,
    parallel: Parallel | None = None,
) -> None:
    """Step ``stage`` to its end, appending a row to ``history`` every ``log_every`` steps.

    After each step: ``on_step(label, step)``; then, if Ctrl-C was pressed (on any rank of a
    data-parallel job: all stop after the same step), ``on_interrupt(step)`` and
    :class:`Interrupted`; else every ``save_every`` steps ``save()``. The logged loss is the
    global batch's (the ranks' average).
    """
    parallel = Parallel() if parallel is None else parallel
    bar = progress(stage.total, desc=desc, quiet=quiet, initial=stage.done, unit="step")
    with bar:
        while stage.done < stage.total:
            loss = stage.step()
            bar.update(1)
            if stage.done % log_every == 0 or stage.done == stage.total:
                loss = parallel.sum(float(loss)) / parallel.world_size
                history.append(stage.row(loss))
                bar.set_postfix(loss=f"{loss:.3g}")
            if on_step is not None:
                on_step(stage.label, stage.done)
            if parallel.any(stop.raised):
                if on_interrupt is not None:
                    on_interrupt(stage.done)
                raise Interrupted(
                    f"interrupted after step {stage.done} of {stage.total} of {stage.label}"
                )
            if save is not None and save_every and stage.done % save_every == 0:
                save()


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
    parallel: Parallel | None = None,
) -> list[dict[str, float]]:
    """Adam on ``mean |f_theta(x) - dxdt|^2`` over pairs ``(N, dim)``; returns the history.

    Mini-batches (``config.batch_size > 0``) are drawn without replacement with ``generator``;
    ``0`` uses all pairs each step. Ctrl-C finishes the current step, calls
    ``on_interrupt(step)`` and raises :class:`Interrupted`. ``parallel``: this process's place
    in a data-parallel job whose process group is initialised (default: a single process);
    each rank trains on its share of every batch.
    """
    parallel = Parallel() if parallel is None else parallel
    stage = _DerivativeFit(
        model, x, dxdt, config, generator,
        label=label, x_test=x_test, dxdt_test=dxdt_test, parallel=parallel,
    )  # fmt: skip
    return _run_stage(stage, config, label, quiet, on_interrupt, parallel)


def _run_stage(
    stage: _DerivativeFit | _TrajectoryFit,
    config: HNNConfig,
    label: str,
    quiet: bool,
    on_interrupt: Callable[[int], None] | None,
    parallel: Parallel,
) -> list[dict[str, Any]]:
    """Train ``stage`` to its end with Ctrl-C as a stop request; returns the history."""
    history: list[dict[str, Any]] = []
    with StopFlag() as stop:
        _train(
            stage,
            history,
            stop,
            desc=f"{config.system} {label}",
            log_every=config.log_every,
            quiet=quiet or not parallel.is_main,
            on_interrupt=on_interrupt,
            parallel=parallel,
        )
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
    parallel: Parallel | None = None,
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
    Ctrl-C finishes the current step, calls ``on_interrupt(step)`` and raises
    :class:`Interrupted`.

    Args:
        states: observed states ``(n_traj, T, dim)`` at times ``t`` ``(T,)``.
        dxdt: clean time derivatives ``(n_traj, T, dim)`` (optional).
        parallel: as for :func:`fit_derivatives`; each rank fits its share of the trajectories.
    """
    parallel = Parallel() if parallel is None else parallel
    stage = _TrajectoryFit(model, states, t, config, dxdt=dxdt, label=label, parallel=parallel)
    return _run_stage(stage, config, label, quiet, on_interrupt, parallel)


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


def _check_resumable(ckpt: Mapping[str, Any], config: HNNConfig, run: RunDir) -> None:
    stored = ckpt.get("config")
    if stored != dataclasses.asdict(config):
        changed = sorted(
            k for k, v in dataclasses.asdict(config).items() if (stored or {}).get(k) != v
        )
        raise ValueError(
            f"the checkpoint in {run.path} was made with another configuration "
            f"(different: {', '.join(changed)}); resume with the run's own config.json."
        )
    if "stage" not in ckpt:
        raise ValueError(
            f"the checkpoint in {run.path} holds no training state to resume from (it was "
            f"written by an older hamnets); start a new run."
        )


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
    resume: bool = False,
    checkpoint_every: int = 500,
    on_step: Callable[[str, int], None] | None = None,
    parallel: Parallel | None = None,
) -> dict[str, Any]:
    """The whole ``hamnets hnn`` run: data, fit, batched evaluation rollouts, files, plots.

    Writes ``config.json``, ``history.csv``, ``checkpoint.pt``, ``metrics.json``, ``phase.png``
    and ``energy.png`` into ``run``. Training runs in stages (derivative regression of the
    model, the optional trajectory stage, derivative regression of the baseline);
    ``checkpoint.pt`` holds the networks, the current stage's optimiser, step and batch order,
    the batch generator, the history and the time spent, and is written every
    ``checkpoint_every`` steps, at the end of training, and on Ctrl-C (after the current step,
    then :class:`Interrupted` is raised). ``resume=True`` continues from it to exactly the
    result of an uninterrupted run.

    Args:
        config: the run description (stored as ``config.json``); with ``resume`` it must equal
            the checkpoint's.
        truth: the true system (for ``tutorial``: the spring, whose H is ``q^2 + p^2``).
        make_model, make_baseline: build the networks from an initialisation generator;
            ``make_baseline=None`` skips the baseline.
        solver: the solver of the evaluation rollouts.
        baseline_solver: the baseline's solver (default ``solver``; the baseline is not
            separable, so a separable-only ``solver`` needs another one here).
        resume: continue from ``run``'s ``checkpoint.pt``.
        checkpoint_every: steps between two checkpoints within a stage (0: only at the end
            and on Ctrl-C).
        on_step: called as ``on_step(stage_label, step)`` after every training step.
        parallel: this process's place in a data-parallel job; default: from the ``torchrun``
            environment (a single process without it). Every rank builds the same data,
            networks and global batches from the same seeds (no randomness differs between
            ranks) and trains on its share through DistributedDataParallel, so the job follows
            the single-process run with the same ``batch_size``. Only rank 0 writes files,
            shows progress and evaluates; checkpoints resume on any number of processes.

    Returns:
        The metrics (on the other ranks of a data-parallel job: an empty dict).

    Raises:
        Interrupted: after Ctrl-C, once the checkpoint is saved.
        ValueError: ``resume`` with another configuration or without a resumable checkpoint.
    """
    from ..datasets import denoise_with_derivatives, trajectory_data, tutorial_data

    if checkpoint_every < 0:
        raise ValueError(f"checkpoint_every must be >= 0, got {checkpoint_every}.")
    parallel = Parallel.from_env() if parallel is None else parallel
    device = parallel.device(torch.device("cpu") if device is None else device)
    parallel.init(device)
    quiet = quiet or not parallel.is_main
    watch = Stopwatch()
    g_data = torch.Generator().manual_seed(config.seed)
    g_init = torch.Generator().manual_seed(config.seed + 1)
    g_batch = torch.Generator().manual_seed(config.seed + 2)
    model = make_model(g_init).to(device)
    baseline = make_baseline(g_init).to(device) if make_baseline is not None else None
    history: list[dict[str, Any]] = []
    ckpt: dict[str, Any] | None = None
    if resume:
        ckpt = run.load_checkpoint()
        _check_resumable(ckpt, config, run)
        model.load_state_dict(ckpt["model"])
        if baseline is not None:
            baseline.load_state_dict(ckpt["baseline"])
        history = ckpt["history"]
        watch = Stopwatch(ckpt["wall_seconds"], ckpt["cpu_seconds"])
    elif parallel.is_main:
        run.write_json("config.json", config)

    tutorial = config.system == "tutorial"
    xt = dxdtt = None  # the test pairs (none for the tutorial)
    if tutorial:
        t, x, dxdt = tutorial_data()
        x, dxdt = x.to(device), dxdt.to(device)
        x_fit = x
    else:
        data = trajectory_data(config.system, g_data)
        x, dxdt = data.flat(data.train_states).to(device), data.flat(data.train_dxdt).to(device)
        x_fit = x
        if config.denoise:
            denoised = denoise_with_derivatives(data.train_states, data.train_dxdt, data.t)
            x_fit = data.flat(denoised).to(device)
        xt, dxdtt = data.flat(data.test_states).to(device), data.flat(data.test_dxdt).to(device)

    # The stages in order, each built when it starts (building one draws from g_batch).
    def regression(net: nn.Module, label: str) -> Callable[[], _Stage]:
        return lambda: _DerivativeFit(
            net, x_fit, dxdt, config, g_batch,
            label=label, x_test=xt, dxdt_test=dxdtt, parallel=parallel,
        )  # fmt: skip

    def trajectories() -> _Stage:
        states, clean_dxdt = data.train_states.to(device), data.train_dxdt.to(device)
        return _TrajectoryFit(
            model, states, data.t.to(device), config, dxdt=clean_dxdt, parallel=parallel
        )

    stages: list[tuple[str, Callable[[], _Stage]]] = [("model", regression(model, config.model))]
    if not tutorial and config.trajectory_steps:
        stages.append(("trajectory", trajectories))
    if not tutorial and baseline is not None:
        stages.append(("baseline", regression(baseline, "baseline")))
    names = [name for name, _ in stages] + ["done"]
    start = names.index(ckpt["stage"]) if ckpt is not None else 0
    current: tuple[str, _Stage | None] = ("done", None)

    def checkpoint(extra: Mapping[str, Any] | None = None) -> None:
        if not parallel.is_main:  # the state is the same on every rank
            return
        name, stage = current
        state = {
            "config": dataclasses.asdict(config),
            "model": model.state_dict(),
            "baseline": None if baseline is None else baseline.state_dict(),
            "stage": name,
            "stage_state": None if stage is None else stage.state_dict(),
            "batch_generator": g_batch.get_state(),
            "history": history,
            "wall_seconds": watch.wall,
            "cpu_seconds": watch.cpu,
        }
        state.update(extra or {})
        run.save_checkpoint(state)
        run.write_csv("history.csv", history)

    with StopFlag() as stop:
        for i, (name, build) in enumerate(stages[start:], start):
            stage = build()
            if ckpt is not None and i == start:
                stage.load_state_dict(ckpt["stage_state"])
                g_batch.set_state(ckpt["batch_generator"])
            current = (name, stage)
            _train(
                stage,
                history,
                stop,
                desc=f"{config.system} {stage.label}",
                log_every=config.log_every,
                quiet=quiet,
                on_step=on_step,
                on_interrupt=lambda _step: checkpoint(),
                save=checkpoint,
                save_every=checkpoint_every,
                parallel=parallel,
            )
    current = ("done", None)
    checkpoint()
    if not parallel.is_main:  # rank 0 evaluates and writes
        return {}

    metrics: dict[str, Any] = {"system": config.system, "model": config.model}
    if tutorial:
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
