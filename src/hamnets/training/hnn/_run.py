"""``hamnets hnn``: fit and evaluate Hamiltonian neural networks, built from the config alone.

The loop follows Greydanus et al. (2019): regress the model's field on (noisy state, clean
time derivative) pairs with Adam. Optionally (``trajectory_steps > 0``) a second stage fits
whole observed trajectories through a solver (:class:`TrajectoryFit`), and a baseline MLP is
regressed the same way for comparison. Evaluation integrates the learned fields from
``n_eval`` initial conditions in one batched call and compares against the true system's
solution. The stages run on the training :class:`~hamnets.training.Engine`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch
from torch import nn

from ...hnn import build_hnn
from ...integrate import Solver, build_solver
from .._device import resolve_device
from .._engine import DONE, Phase
from .._errors import ResourceError
from .._parallel import Parallel
from .._resources import FLOAT, HNN_ACTIVATIONS, mlp_parameters
from .._rundir import FORMAT
from .._session import RunOptions, RunResult, RunSession
from ._config import HNNConfig
from ._port import build_port_networks
from ._stages import DerivativeRegression, TrajectoryFit
from ._systems import SYSTEMS

__all__ = [
    "DEFAULT_CHECKPOINT_EVERY",
    "build_networks",
    "build_solvers",
    "degenerate_field",
    "memory_parts",
    "run_hnn",
]

#: a learned field whose RMS is below this fraction of the true field's is degenerate
DEGENERATE_RMS = 1e-3

#: steps between two checkpoints when ``RunOptions.checkpoint_every`` is None.
DEFAULT_CHECKPOINT_EVERY = 500


def build_networks(config: HNNConfig, generator: torch.Generator) -> dict[str, nn.Module]:
    """The run's networks, drawn from ``generator`` in this order: ``model``, then the
    ``baseline`` when ``config.compare_baseline`` (a port system's through
    :func:`._port.build_port_networks`)."""
    if SYSTEMS[config.system].port:
        return build_port_networks(config, generator)
    dim, hidden, act = SYSTEMS[config.system].truth().dim, config.hidden, config.activation
    nets = {"model": build_hnn(config.model, dim, hidden, symmetry=config.symmetry,
                               activation=act, generator=generator)}  # fmt: skip
    if config.compare_baseline:
        nets["baseline"] = build_hnn("baseline", dim, hidden, activation=act, generator=generator)
    return nets


def build_solvers(config: HNNConfig) -> dict[str, Solver]:
    """The rollout solvers of the evaluation: ``model`` (``config.solver``) and ``baseline``
    (``config.baseline_solver``)."""
    kw = {"dt": config.dt, "rtol": config.rtol, "atol": config.atol}
    return {
        "model": build_solver(config.solver, **kw),
        "baseline": build_solver(config.baseline_solver, **kw),
    }


def memory_parts(
    config: HNNConfig, dim: int, n_pairs: int, n_trajectory_states: int = 0
) -> dict[str, float]:
    """Bytes an hnn run needs at once (see :mod:`hamnets.training._resources`)."""
    hidden = list(config.hidden)
    extra = dim + 1 if SYSTEMS[config.system].port else 0  # a port row adds inputs and time
    nets = {
        "hnn": [[dim, *hidden, 1]],
        "port": [[dim + 1, *hidden, 1]],
        "separable": [[dim // 2, *hidden, 1]] * 2,
        "baseline": [[dim + extra, *hidden, dim]],
    }[config.model]
    if config.compare_baseline:
        nets = [*nets, [dim + extra, *hidden, dim]]
    params = sum(mlp_parameters(w) for w in nets)
    batch = config.batch_size or n_pairs
    units = sum(hidden) * 2  # a separable model runs two networks
    parts = {
        "parameters": FLOAT * params,
        "gradients and Adam state": 3 * FLOAT * params,
        "activations": FLOAT * HNN_ACTIVATIONS * min(batch, n_pairs) * units,
        "data": 3 * FLOAT * n_pairs * (dim + extra),
        # float64 rollouts: true and learned, in and out of distribution, and their energies
        "evaluation": 8 * 6 * config.n_eval * config.eval_points * (dim + 1),
    }
    if config.trajectory_steps:  # backpropagation through 4 solver stages per state
        parts["trajectory stage"] = FLOAT * HNN_ACTIVATIONS * 4 * n_trajectory_states * units
    return parts


@torch.no_grad()
def degenerate_field(net: nn.Module, x: torch.Tensor, true_dxdt: torch.Tensor) -> dict[str, Any]:
    """Whether ``net``'s field at the states ``x`` is degenerate: non-finite anywhere, or of
    an RMS below :data:`DEGENERATE_RMS` of the true field's. A field that is (almost) zero
    conserves every energy and scores a tiny energy error while learning nothing."""
    with torch.enable_grad():  # an HNN's field is a gradient
        field = torch.cat([net(chunk).detach() for chunk in x.split(4096)])
    true_rms = float(true_dxdt.double().pow(2).mean().sqrt())
    finite = bool(torch.isfinite(field).all())
    rms = float(field.double().pow(2).mean().sqrt()) if finite else float("nan")
    ratio = rms / true_rms if true_rms > 0 else float("nan")
    return {
        "degenerate": (not finite) or ratio < DEGENERATE_RMS,
        "field_rms_ratio": ratio,
    }


class _Task:
    """The state of an hnn run besides the current stage's: the networks."""

    def __init__(self, nets: Mapping[str, nn.Module]) -> None:
        self.nets = dict(nets)

    def state_dict(self) -> dict[str, Any]:
        return {
            "model": self.nets["model"].state_dict(),
            "baseline": self.nets["baseline"].state_dict() if "baseline" in self.nets else None,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        for name, net in self.nets.items():
            net.load_state_dict(state[name])

    def parameters(self) -> Iterable[torch.Tensor]:
        for net in self.nets.values():
            yield from net.parameters()


def _migrate_v1(ckpt: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of hamnets 0.1.0's hnn (format 1) in the current format.

    Format 1 held ``config``, ``model``, ``baseline``, ``stage`` (``model``, ``trajectory``,
    ``baseline`` or ``done``), ``stage_state`` (the stage's optimiser, step, and batch order
    or fitted initial states), ``batch_generator``, ``history``, ``wall_seconds``,
    ``cpu_seconds`` and, once finished, ``metrics``.
    """
    stage = ckpt["stage"]
    state = ckpt.get("stage_state")
    done = stage == "done" or state is None
    engine_stage = None
    if not done:
        engine_stage = {k: v for k, v in state.items() if k != "done"}
        engine_stage["generator"] = ckpt["batch_generator"]
    return {
        "format": FORMAT,
        "kind": HNNConfig.KIND,
        "config": ckpt["config"],
        "engine": {
            "phase": DONE if done else stage,
            "done": 0 if done else int(state["done"]),
            "history": list(ckpt["history"]),
            "sums": {},
            "wall_seconds": float(ckpt["wall_seconds"]),
            "cpu_seconds": float(ckpt["cpu_seconds"]),
        },
        "task": {"model": ckpt["model"], "baseline": ckpt.get("baseline")},
        "stage": engine_stage,
    }


def run_hnn(
    config: HNNConfig | None,
    options: RunOptions | None = None,
    *,
    parallel: Parallel | None = None,
    on_step: Callable[[str, int], None] | None = None,
) -> RunResult:
    """The whole ``hamnets hnn`` run: data, fit, batched evaluation rollouts, files, plots.

    Everything (the true system, the data, the networks, every solver) is built from
    ``config`` alone, through the registries (:data:`~hamnets.training.hnn.SYSTEMS`,
    :func:`hamnets.hnn.build_hnn`, :func:`hamnets.integrate.build_solver`). Training runs in
    phases on the engine: ``model`` (derivative regression), ``trajectory`` (with
    ``trajectory_steps``), ``baseline`` (with ``compare_baseline``). The random streams:
    data from ``seed``, initialisation from ``seed + 1``, batches from ``seed + 2`` (each
    stage is built when it starts and draws its first batch order then).

    Args:
        config: the run description; with ``options.resume`` it may be None (the run's
            own), else it must describe the same run (the device may differ).
        options: where and how to run; None trains in memory and writes nothing.
            ``checkpoint_every`` None: every 500 steps.
        parallel: this process's place in a data-parallel job; default: from the ``torchrun``
            environment (a single process without it). Every rank builds the same data,
            networks and global batches from the same seeds and trains on its share through
            DistributedDataParallel, so the job follows the single-process run with the same
            ``batch_size``. Only rank 0 writes, shows progress and evaluates; checkpoints
            resume on any number of processes.
        on_step: called as ``on_step(phase, steps_done)`` after every training step, with
            ``phase`` one of ``model``, ``trajectory``, ``baseline``.

    Returns:
        The metrics (``{}`` on ranks > 0) and the run folder. With a run folder: ``config.json``,
        ``checkpoint.pt``, ``metrics.json`` (``"status": "finished"``), ``history.csv``,
        ``phase.png`` and ``energy.png``. A finished run resumed is evaluated again.

    Raises:
        Interrupted: after Ctrl-C, once the checkpoint is saved.
        Diverged: the loss or a weight became NaN or inf (``metrics.json`` says so; the last
            good checkpoint is kept).
    """
    options = RunOptions(folder=False) if options is None else options
    parallel = Parallel.from_env() if parallel is None else parallel
    every = (
        DEFAULT_CHECKPOINT_EVERY if options.checkpoint_every is None else options.checkpoint_every
    )
    with RunSession(HNNConfig, config, options, parallel, migrate=_migrate_v1) as session:
        config = session.config
        device = parallel.device(resolve_device(config.device))
        parallel.init(device)
        system = SYSTEMS[config.system]
        truth = system.truth()
        solvers = build_solvers(config)
        g_data = torch.Generator().manual_seed(config.seed)
        g_init = torch.Generator().manual_seed(config.seed + 1)
        g_batch = torch.Generator().manual_seed(config.seed + 2)
        data = system.data(g_data, denoise=config.denoise, device=device)
        traj = data.trajectories
        if config.trajectory_steps and traj is not None:
            span = float(traj.t[-1] - traj.t[0])
            if span / config.trajectory_dt > config.max_steps:
                raise ResourceError(
                    f"the trajectory stage with --trajectory-dt {config.trajectory_dt:g} takes "
                    f"{span / config.trajectory_dt:.3g} steps over its {span:g} time units, "
                    f"more than --max-steps {config.max_steps}; raise the step or --max-steps."
                )
        n_traj_states = 0 if traj is None else traj.train_states.numel() // truth.dim
        session.guard(
            memory_parts(config, truth.dim, data.x.shape[0], n_traj_states),
            device,
            hint="--hidden or --batch-size",
        )
        nets = {k: v.to(device) for k, v in build_networks(config, g_init).items()}
        run = session.claim(f"hnn_{config.system}_{config.model}")
        if options.check:  # everything is valid: report what would run, train nothing
            return RunResult(session.plan(), run)
        task = _Task(nets)

        # Each stage is built when its phase starts (building one draws from g_batch).
        def regression(name: str, label: str) -> Callable[[], DerivativeRegression]:
            return lambda: DerivativeRegression(
                nets[name], data.x_fit, data.dxdt, config, g_batch, label=label,
                x_test=data.x_test, dxdt_test=data.dxdt_test, parallel=parallel,
            )  # fmt: skip

        def trajectories() -> TrajectoryFit:
            traj = data.trajectories
            assert traj is not None
            return TrajectoryFit(
                nets["model"], traj.train_states.to(device), traj.t.to(device), config,
                dxdt=traj.train_dxdt.to(device), generator=g_batch, parallel=parallel,
            )  # fmt: skip

        def phase(name: str, steps: int, build, label: str) -> Phase:
            return Phase(name, steps, build, period=config.log_every, checkpoint_every=every,
                         desc=f"{config.system} {label}")  # fmt: skip

        phases = [phase("model", config.steps, regression("model", config.model), config.model)]
        if config.trajectory_steps:
            phases.append(phase("trajectory", config.trajectory_steps, trajectories, "trajectory"))
        if "baseline" in nets:
            phases.append(phase("baseline", config.steps, regression("baseline", "baseline"),
                                "baseline"))  # fmt: skip
        engine = session.engine(task, phases, on_step=on_step)
        session.train(engine)
        metrics: dict[str, Any] = {}
        evaluation = None
        if parallel.is_main:  # rank 0 evaluates and writes
            for net in nets.values():
                net.eval()
            rollout = {name: (net, solvers[name]) for name, net in nets.items()}
            evaluation = system.evaluate(config, truth, data, rollout)
            # states of the evaluation: the test pairs (the training pairs if there are none)
            x_eval, f_eval = (
                (data.x_test, data.dxdt_test) if data.x_test is not None else (data.x, data.dxdt)
            )
            # flagged only when degenerate (a healthy run's metrics keep their keys)
            checks = {
                name: check
                for name, net in nets.items()
                if (check := degenerate_field(net, x_eval, f_eval))["degenerate"]
            }
            if "baseline" in checks and isinstance(evaluation.metrics.get("baseline"), dict):
                evaluation.metrics["baseline"].update(checks["baseline"])
            metrics = {
                "status": "finished",
                "system": config.system,
                "model": config.model,
                **checks.get("model", {}),
                **evaluation.metrics,
                "wall_seconds": engine.clock.wall,
                "cpu_seconds": engine.clock.cpu,
            }
        engine.checkpoint(metrics=metrics)  # a collective: every rank takes part
        if not parallel.is_main:
            return RunResult({}, run)
        if run is not None and evaluation is not None:
            from ._report import write_hnn_outputs

            write_hnn_outputs(run, config, metrics, engine.history, evaluation,
                              plots=options.plots)  # fmt: skip
        return RunResult(metrics, run)
