"""Frozen configuration of an ``hamnets hnn`` run: the single description of what was run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from ...hnn import ACTIVATION_NAMES, HNN_MODEL_NAMES, SYMMETRY_NAMES
from ...integrate import SOLVER_NAMES, SOLVERS
from .._configs import RunConfig, check_seed, free
from ._systems import SYSTEM_NAMES, SYSTEMS

__all__ = [
    "ACTIVATION_NAMES",
    "HNNConfig",
    "MODEL_NAMES",
    "PRESETS",
    "PRESET_NAMES",
    "SOLVER_NAMES",
    "SYMMETRY_NAMES",
    "SYSTEM_NAMES",
]

#: ``port`` applies to the port systems only (``SYSTEMS[name].port``), ``separable`` to the
#: others.
MODEL_NAMES = (*HNN_MODEL_NAMES, "port")
#: the models of a port system (:func:`hamnets.hnn.build_port_model`)
PORT_MODELS = ("port", "hnn", "baseline")
#: the forms of a port model's energy
ENERGY_NAMES = ("full", "separable", "quadratic", "separable_quadratic")
AUTO = "auto"
#: the smallest relative tolerance float32 states can resolve: 4 machine epsilons (below it
#: the error estimate is rounding noise and the step size collapses).
RTOL_FLOOR = 4 * 2.0**-23
#: the most steps one fixed-step rollout may take (the adaptive solvers' default cap).
MAX_STEPS = 100_000

#: ``--preset`` name -> the field values it sets (defaults that explicit flags override).
#: ``diffeqflux``: the DiffEqFlux ``HamiltonianNN`` tutorial as written: ``Dense(2 -> 1028,
#: relu) -> Dense(1028 -> 1)``, ``Adam(0.01)`` (no weight decay, constant rate), 500 epochs
#: of the ``DataLoader``'s 4 in-order batches of 256 (2000 steps), and the tolerances of
#: ``solve``'s defaults (``reltol = 1e-3``, ``abstol = 1e-6``) for the Tsit5 rollout.
PRESETS: dict[str, dict[str, object]] = {
    "none": {},
    "diffeqflux": {
        "system": "tutorial",
        "model": "hnn",
        "hidden": (1028,),
        "activation": "relu",
        "lr": 0.01,
        "weight_decay": 0.0,
        "final_lr_fraction": 1.0,
        "steps": 2000,
        "batch_size": 256,
        "shuffle": False,
        "solver": "tsit5",
        "rtol": 1e-3,
        "atol": 1e-6,
    },
}
PRESET_NAMES = tuple(PRESETS)


@dataclass(frozen=True)
class HNNConfig(RunConfig):
    """Everything that defines an ``hamnets hnn`` run; the run is built from it alone.

    Attributes:
        system: ``spring``, ``pendulum``, ``two_body`` or ``tutorial``, or a port system
            (``damped_spring``, ``forced_pendulum``, ``mass_spring_damper``,
            ``parametric_spring``): the true system, its data and its evaluation
            (:data:`hamnets.training.hnn.SYSTEMS`). A port system's defaults are its recipe
            (:meth:`recipe`).
        model: ``hnn`` (learned H), ``separable`` (learned T(p) + V(q)) or ``baseline``
            (an MLP that outputs dx/dt); for a port system ``port`` (learned H, damping on
            the momenta and input ports, :class:`hamnets.hnn.PortHamiltonianNN`), ``hnn``
            (conservative, ignores inputs and time) or ``baseline`` (an MLP of (x, u, t)).
        steps: Adam steps of derivative regression.
        lr: Adam learning rate.
        final_lr_fraction: cosine decay of the learning rate to ``lr * final_lr_fraction``
            over the steps; ``1.0`` keeps it constant (the reference code).
        weight_decay: Adam weight decay (1e-4 in the reference code).
        structure_lr: Adam learning rate of a port model's dissipation and input matrix
            (their few parameters must travel to values of order one, at about ``lr`` per
            step under Adam); follows the same schedule. Port systems only.
        energy: a port system's learned energy: ``full`` (an MLP of the whole state),
            ``separable`` (``T(p) + V(q)``, ``V(t, q)`` for a time-dependent system: the
            mechanical prior, each network on half the state), ``quadratic`` or
            ``separable_quadratic`` (either plus a learned positive semi-definite quadratic
            form, :class:`hamnets.hnn.QuadraticEnergy`; energies of ``x`` only). Port
            systems only.
        batch_size: pairs per step; 0 uses the whole training set every step.
        hidden: hidden widths of the networks.
        activation: the hidden layers' activation of every network (``tanh``, ``relu``,
            ``gelu`` or ``softplus``, :data:`hamnets.hnn.ACTIVATIONS`). The learned field is
            the energy's gradient, so its smoothness is the activation's derivative's: relu
            gives a piecewise-constant field (see ``docs/tutorial.md``).
        shuffle: draw each pass's mini-batches in a fresh random order (the default); False
            takes them in the data's order, as Julia's ``DataLoader`` does by default.
        symmetry: a symmetry the learned energy is made exactly invariant under: ``none``,
            the reflections (:class:`hamnets.hnn.SymmetricEnergy`) ``even``
            (``H(-x) = H(x)``) or ``time_reversal`` (``H(q, -p) = H(q, p)``), or ``periodic``
            (every ``q_i`` an angle, ``H(q + 2 pi k, p) = H(q, p)``: the energy reads
            ``(cos q, sin q, p)``, :class:`hamnets.hnn.PeriodicEnergy`). A prior about the
            true system, for ``hnn`` and ``separable`` models, and ``periodic`` for a port
            system's ``port`` and ``hnn`` models too (not with a quadratic ``energy``); the
            MLP baseline stays unconstrained.
        solver: solver of the evaluation rollouts of the model.
        dt: step of fixed-step solvers.
        rtol, atol: tolerances of adaptive solvers.
        denoise: regress on states denoised with the clean derivatives
            (:func:`hamnets.datasets.denoise_with_derivatives`) instead of the noisy ones; the
            reported derivative MSEs stay those of the paper (at the noisy states).
        trajectory_steps: Adam steps of the trajectory stage (0: off; the tutorial has no
            trajectories).
        trajectory_lr: learning rate of the trajectory stage.
        trajectory_dt: step of the trajectory stage's solver.
        trajectory_solver: the trajectory stage's solver; ``auto`` (the default) becomes
            ``leapfrog`` for a separable model and ``rk4`` otherwise, at construction.
        compare_baseline: also train the baseline (for ``energy.png`` and the metrics); set
            to False at construction where there is none to compare (``model="baseline"``,
            the tutorial).
        baseline_solver: solver of the baseline's rollouts; ``auto`` (the default) becomes
            ``solver``, or ``rk4`` when ``solver`` steps separable fields only.
        horizon: evaluation horizon ``T`` (the same for every sample).
        n_eval: initial conditions of the evaluation (and of the out-of-distribution one).
        eval_points: saved states per evaluation rollout, evenly spaced on ``[0, T]``.
        seed: seed of data (``seed``), initialisation (``seed + 1``) and batches
            (``seed + 2``); the evaluation initial conditions have their own.
        device: ``cpu``, ``cuda`` or ``cuda:N`` (a resumed run may change it).
        log_every: steps between two rows of ``history.csv``.
        max_steps: the most steps one fixed-step evaluation rollout may take
            (``ceil(horizon / dt)``); a configuration that needs more is refused before it
            starts (a resumed run may change it: it changes no number).
        preset: the :data:`PRESETS` entry whose values the command line filled in before
            the flags (``none``: no preset). A record of where the values came from: the
            fields hold the values that ran, and a resumed run keeps its preset.
    """

    KIND: ClassVar[str] = "hnn"

    system: str = "spring"
    model: str = "hnn"
    steps: int = 2000
    lr: float = 1e-3
    final_lr_fraction: float = 1.0
    weight_decay: float = 1e-4
    structure_lr: float = 1e-2
    energy: str = "full"
    batch_size: int = 0
    hidden: tuple[int, ...] = (200, 200)
    activation: str = "tanh"
    shuffle: bool = True
    symmetry: str = "none"
    solver: str = "tsit5"
    dt: float = 0.01
    rtol: float = 1e-6
    atol: float = 1e-8
    denoise: bool = False
    trajectory_steps: int = 0
    trajectory_lr: float = 3e-4
    trajectory_dt: float = 0.1
    trajectory_solver: str = AUTO
    compare_baseline: bool = True
    baseline_solver: str = AUTO
    horizon: float = 20.0
    n_eval: int = 15
    eval_points: int = 401
    seed: int = 0
    device: str = free("cpu")
    log_every: int = 50
    max_steps: int = free(MAX_STEPS)
    preset: str = "none"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("system", SYSTEM_NAMES),
            ("model", MODEL_NAMES),
            ("activation", ACTIVATION_NAMES),
            ("preset", PRESET_NAMES),
            ("energy", ENERGY_NAMES),
            ("symmetry", SYMMETRY_NAMES),
            ("solver", SOLVER_NAMES),
            ("trajectory_solver", (AUTO, *SOLVER_NAMES)),
            ("baseline_solver", (AUTO, *SOLVER_NAMES)),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"--{name.replace('_', '-')} {getattr(self, name)!r} is not known; choose "
                    f"one of {', '.join(allowed)}."
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
        for name in ("lr", "structure_lr", "dt", "rtol", "atol", "horizon", "trajectory_lr",
                     "trajectory_dt"):  # fmt: skip
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0):
                raise ValueError(f"--{name.replace('_', '-')} must be a number > 0, got {v!r}.")
        if self.max_steps < 1:
            raise ValueError(f"--max-steps must be >= 1, got {self.max_steps}.")
        if not 0 < self.final_lr_fraction <= 1:
            raise ValueError(
                f"--final-lr-fraction must be in (0, 1], got {self.final_lr_fraction}."
            )
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"--weight-decay must be >= 0, got {self.weight_decay}.")
        if self.symmetry != "none" and self.model == "baseline":
            raise ValueError(
                f"--symmetry {self.symmetry} constrains a learned energy; the baseline has none "
                "(use --model hnn or separable, or --symmetry none)."
            )
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(f"--hidden needs one or more positive widths, got {self.hidden!r}.")
        check_seed(self.seed)
        self._resolve()

    @classmethod
    def recipe(cls, **settings: object) -> HNNConfig:
        """A configuration with the chosen system's recipe (``SYSTEMS[system].recipe(model)``:
        its defaults that apply to the model) in place of the generic defaults; the values in
        ``settings`` win."""
        system = settings.get("system", cls.system)
        entry = SYSTEMS.get(system) if isinstance(system, str) else None
        model = settings.get("model", cls.model)
        merged = {**(entry.recipe(str(model)) if entry is not None else {}), **settings}
        return cls(**merged)  # type: ignore[arg-type]

    def _check_port(self) -> None:
        """Refuse what a port system (or a model of one) cannot take."""
        port = SYSTEMS[self.system].port
        if port and self.model not in PORT_MODELS:
            raise ValueError(
                f"--model {self.model} does not apply to the port system {self.system}; "
                f"choose one of {', '.join(PORT_MODELS)}."
            )
        if not port and self.model == "port":
            ports = ", ".join(n for n, s in SYSTEMS.items() if s.port)
            raise ValueError(
                f"--model port needs a port-Hamiltonian system ({ports}); {self.system} is "
                "conservative (use --model hnn)."
            )
        timed = port and SYSTEMS[self.system].truth().explicit_time
        if timed and self.energy.endswith("quadratic"):
            raise ValueError(
                f"--energy {self.energy} adds a quadratic form to an energy of x; the "
                f"{self.system} energy depends on t (use full or separable)."
            )
        if port and self.symmetry not in ("none", "periodic"):
            raise ValueError(
                f"--symmetry {self.symmetry} does not apply to the port system {self.system} "
                "(none or periodic do)."
            )
        if self.symmetry == "periodic" and self.energy.endswith("quadratic"):
            raise ValueError(
                f"--symmetry periodic makes the energy 2 pi periodic in q; --energy "
                f"{self.energy} adds a quadratic form of x that is not (use --energy full or "
                "separable, or --symmetry none)."
            )
        if port and self.trajectory_steps:
            raise ValueError(
                f"--trajectory-steps is not available for the port system {self.system} "
                "(drop it; --denoise is)."
            )

    def _resolve(self) -> None:
        """Fill in the ``auto`` choices and refuse solvers the fields cannot take."""
        self._check_port()
        separable = self.model == "separable"
        if SOLVERS[self.solver].needs_separable and not separable:
            raise ValueError(
                f"--solver {self.solver} steps separable Hamiltonians only (--model separable); "
                f"use implicit_midpoint or tsit5 for --model {self.model}."
            )
        if self.trajectory_solver == AUTO:
            object.__setattr__(self, "trajectory_solver", "leapfrog" if separable else "rk4")
        if SOLVERS[self.trajectory_solver].needs_separable and not separable:
            raise ValueError(
                f"--trajectory-solver {self.trajectory_solver} steps separable Hamiltonians "
                f"only; use rk4 for --model {self.model}."
            )
        entry = SYSTEMS[self.system]
        if not (entry.trajectories or entry.port) and (self.trajectory_steps or self.denoise):
            flag = "--trajectory-steps" if self.trajectory_steps else "--denoise"
            raise ValueError(
                f"{flag} needs noisy trajectories; the {self.system} data have none (drop {flag})."
            )
        if self.model == "baseline" or not SYSTEMS[self.system].test_set:
            object.__setattr__(self, "compare_baseline", False)
        if self.baseline_solver == AUTO:
            needs = SOLVERS[self.solver].needs_separable
            object.__setattr__(self, "baseline_solver", "rk4" if needs else self.solver)
        if SOLVERS[self.baseline_solver].needs_separable:
            raise ValueError(
                f"--baseline-solver {self.baseline_solver} steps separable Hamiltonians only; "
                f"the MLP baseline is not one (use rk4 or tsit5)."
            )
        self._check_bounds()

    def _check_bounds(self) -> None:
        """Refuse a rollout that would not end and tolerances float32 cannot resolve."""
        used = [("--solver", self.solver)]
        if self.compare_baseline:
            used.append(("--baseline-solver", self.baseline_solver))
        for flag, name in used:
            if SOLVERS[name].adaptive:
                # a port system's rollouts are float64 (its evaluation's balance needs them)
                if self.rtol < RTOL_FLOOR and not SYSTEMS[self.system].port:
                    raise ValueError(
                        f"--rtol {self.rtol:g} is below what float32 states can resolve "
                        f"(4 eps = {RTOL_FLOOR:.3g}); {flag} {name} would shrink its steps to "
                        f"nothing. Pass --rtol {RTOL_FLOOR:.0e} or more."
                    )
                continue
            steps = math.ceil(self.horizon / self.dt)
            if steps > self.max_steps:
                raise ValueError(
                    f"{flag} {name} with --dt {self.dt:g} takes {steps:.3g} steps to "
                    f"T = {self.horizon:g}, more than --max-steps {self.max_steps}; raise --dt, "
                    f"or --max-steps if you mean it."
                )
