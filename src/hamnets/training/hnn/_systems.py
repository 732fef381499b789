"""The systems ``hamnets hnn`` learns: the only place where a system's name becomes its true
Hamiltonian, its data and its evaluation.

An entry ties the three together, so that a run cannot train on one system and score against
another: ``truth()`` (the exact system), ``data(generator, denoise)`` (the training and test
pairs, and the trajectories when there are some) and ``evaluate`` (what ``metrics.json``
reports). It lives with the task, not in :mod:`hamnets.datasets`, because the evaluation
protocol (horizon, initial conditions, out-of-distribution rollouts) is the task's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from ...datasets import SYSTEMS as DATA_SYSTEMS
from ...datasets import (
    PortTrajectoryData,
    TrajectoryData,
    denoise_with_derivatives,
    trajectory_data,
    tutorial_data,
)
from ...systems import PORT_SYSTEMS, Spring
from ._evaluate import Evaluation, evaluate_protocol, evaluate_tutorial
from ._port import port_data
from ._port_evaluate import evaluate_port

__all__ = ["HNNData", "HNNSystem", "SYSTEMS", "SYSTEM_NAMES"]


@dataclass(frozen=True)
class HNNData:
    """The data of a run (float32, on the run's device).

    Attributes:
        x, dxdt: training pairs ``(N, dim)``: observed states and clean time derivatives.
        x_fit: the states regressed on ``(N, dim)`` (``x``, or ``x`` denoised).
        x_test, dxdt_test: test pairs (None: no test set).
        trajectories: the training trajectories, for the trajectory stage (None: none).
        t: times of the tutorial's states ``(N,)`` (None for the trajectory protocols).
        port: a port system's split data set (its rows ``x`` are ``(state, input, time)``,
            see :mod:`._port`); None otherwise.
    """

    x: torch.Tensor
    dxdt: torch.Tensor
    x_fit: torch.Tensor
    x_test: torch.Tensor | None = None
    dxdt_test: torch.Tensor | None = None
    trajectories: TrajectoryData | None = None
    t: torch.Tensor | None = None
    port: PortTrajectoryData | None = None


@dataclass(frozen=True)
class HNNSystem:
    """One entry of :data:`SYSTEMS`.

    Attributes:
        name: the ``--system`` name.
        truth: makes the true system (its H scores every rollout).
        load: ``load(generator, denoise, device)`` draws the data.
        evaluate: ``evaluate(config, truth, data, nets)`` (see :mod:`._evaluate`).
        trajectories: whether the data hold trajectories (for the trajectory stage).
        test_set: whether the data hold a test set (for the baseline's comparison).
        port: a port-Hamiltonian system (dissipation, inputs or a time-dependent H): its
            models are ``port``, ``hnn`` and ``baseline`` (:mod:`._port`).
        defaults: the system's recipe: configuration values that replace the generic
            defaults when the system is chosen (:meth:`HNNConfig.recipe`, through
            :meth:`recipe`); explicit values win.
    """

    name: str
    truth: Callable[[], Any]
    load: Callable[[torch.Generator, bool, torch.device], HNNData]
    evaluate: Callable[..., Evaluation]
    trajectories: bool = True
    test_set: bool = True
    port: bool = False
    defaults: Mapping[str, Any] = field(default_factory=dict)

    def recipe(self, model: str) -> dict[str, Any]:
        """The recipe's values that apply to ``model``: a prior of the learned energy
        (``symmetry``) is left out for the MLP baseline, which has no energy."""
        return {k: v for k, v in self.defaults.items() if k != "symmetry" or model != "baseline"}

    def data(self, generator: torch.Generator, *, denoise: bool = False, device="cpu") -> HNNData:
        """The run's data, drawn with ``generator`` (its only randomness)."""
        return self.load(generator, denoise, torch.device(device))


def _protocol_data(name: str) -> Callable[[torch.Generator, bool, torch.device], HNNData]:
    def load(generator: torch.Generator, denoise: bool, device: torch.device) -> HNNData:
        data = trajectory_data(name, generator)
        x = data.flat(data.train_states).to(device)  # (n_traj * T, dim)
        dxdt = data.flat(data.train_dxdt).to(device)
        x_fit = x
        if denoise:
            denoised = denoise_with_derivatives(data.train_states, data.train_dxdt, data.t)
            x_fit = data.flat(denoised).to(device)
        x_test = data.flat(data.test_states).to(device)
        dxdt_test = data.flat(data.test_dxdt).to(device)
        return HNNData(x, dxdt, x_fit, x_test, dxdt_test, trajectories=data)

    return load


def _tutorial(generator: torch.Generator, denoise: bool, device: torch.device) -> HNNData:
    t, x, dxdt = tutorial_data()  # no randomness
    x, dxdt = x.to(device), dxdt.to(device)
    return HNNData(x, dxdt, x, t=t)


def _port_load(name: str) -> Callable[[torch.Generator, bool, torch.device], HNNData]:
    def load(generator: torch.Generator, denoise: bool, device: torch.device) -> HNNData:
        return port_data(name, generator, device, denoise=denoise)

    return load


#: What every port system's recipe shares: regress on the states denoised with the clean
#: derivatives, no weight decay (it shrinks the learned damping and force gains), a cosine
#: decay of the learning rate to 1/100, and float64 rollouts tight enough that the energy
#: balance residual measures the model, not the solver.
_PORT_COMMON: dict[str, Any] = {
    "denoise": True,
    "weight_decay": 0.0,
    "final_lr_fraction": 0.01,
    "rtol": 1e-8,
    "atol": 1e-10,
}
#: The port systems' recipes, measured over seeds 0-4 by ``benchmarks/port.py``
#: (docs/port.md): the pendulum's energy reads its angle as ``(cos q, sin q)`` (the prior
#: ``H(q + 2 pi, p) = H(q, p)``; without it a rollout that swings next to the upright
#: position, where the data are few, misses the target on seed 4); the two-mass chain
#: learns ``T(p) + V(q)`` plus a quadratic form (its driven rollouts leave the states of the
#: data, where a tanh energy's forces fade) for 4000 steps; the parametric spring's
#: ``H(t, x)`` needs 6000 steps to follow its modulation.
PORT_RECIPES: dict[str, dict[str, Any]] = {
    "damped_spring": dict(_PORT_COMMON),
    "forced_pendulum": {**_PORT_COMMON, "symmetry": "periodic"},
    "mass_spring_damper": {**_PORT_COMMON, "energy": "separable_quadratic", "steps": 4000},
    "parametric_spring": {**_PORT_COMMON, "steps": 6000},
}

#: ``--system`` name -> its truth, data and evaluation.
SYSTEMS: dict[str, HNNSystem] = {
    **{
        name: HNNSystem(name, cls, _protocol_data(name), evaluate_protocol)
        for name, cls in DATA_SYSTEMS.items()
    },
    # the DiffEqFlux tutorial: q = sin 2 pi t, p = cos 2 pi t, scored with the spring's H
    # (q^2 + p^2, 1 on the data)
    "tutorial": HNNSystem(
        "tutorial", Spring, _tutorial, evaluate_tutorial, trajectories=False, test_set=False
    ),
    # port-Hamiltonian systems: damped, driven, time-dependent (hamnets.systems.PORT_SYSTEMS)
    **{
        name: HNNSystem(
            name,
            cls,
            _port_load(name),
            evaluate_port,
            trajectories=False,
            port=True,
            defaults=PORT_RECIPES[name],
        )  # fmt: skip
        for name, cls in PORT_SYSTEMS.items()
    },
}
SYSTEM_NAMES = tuple(SYSTEMS)
