"""Trajectory data for port-Hamiltonian systems: the HNN protocol (Greydanus et al. 2019) with
dissipation, recorded inputs and time-dependent energies.

Each trajectory has its own initial state and, for a driven system, its own random excitation
(:func:`hamnets.controls.random_sinusoids`); the split is by trajectory, so the test rollouts
start from initial states *and* are driven by inputs that training never saw. Every sampler
takes a ``torch.Generator``; nothing here touches the global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..controls import Signal, random_sinusoids
from ..integrate import Tsit5, odeint
from ..systems import PORT_SYSTEMS, DampedSpring, PortHamiltonianSystem, build_port_system

__all__ = [
    "PORT_PROTOCOLS",
    "PortTrajectoryProtocol",
    "PortTrajectoryData",
    "port_reference_rollout",
    "port_trajectory_data",
    "sample_port_initial_conditions",
]


@dataclass(frozen=True)
class PortTrajectoryProtocol:
    """How a data set of port-Hamiltonian trajectories is drawn.

    Attributes:
        system: a :data:`hamnets.systems.PORT_SYSTEMS` name.
        n_trajectories: trajectories drawn (split into train and test).
        n_points: states saved per trajectory, evenly spaced on ``[0, t_end]``.
        t_end: length of a trajectory.
        noise: standard deviation of the Gaussian noise on the saved states (the derivative
            targets stay clean).
        radius: range of the initial phase-space radius ``|x0|``, drawn uniformly (the
            direction uniformly on the sphere).
        ood_radius: radius range of out-of-distribution initial states.
        terms: sinusoids per input in each trajectory's excitation (driven systems only).
        amplitude: range of their amplitudes.
        frequency: range of their angular frequencies.
        test_fraction: fraction of the trajectories held out for testing.
    """

    system: str
    n_trajectories: int
    n_points: int
    t_end: float
    noise: float
    radius: tuple[float, float]
    ood_radius: tuple[float, float]
    terms: int = 3
    amplitude: tuple[float, float] = (0.0, 0.5)
    frequency: tuple[float, float] = (0.5, 2.0)
    test_fraction: float = 0.5


#: Protocols of the port systems: the HNN paper's counts and noise (50 trajectories, noise
#: 0.1, half held out), over ``t = 10`` so that dissipation and the slowest excitation
#: (period 4 pi) show (the parametric spring over ``t = 20``, its evaluation horizon, at the
#: same spacing); the pendulum's radii are the paper's, the others the spring's.
PORT_PROTOCOLS = {
    "damped_spring": PortTrajectoryProtocol(
        "damped_spring", 50, 51, 10.0, 0.1, (0.1, 1.0), (1.0, 1.5)
    ),
    "forced_pendulum": PortTrajectoryProtocol(
        "forced_pendulum", 50, 51, 10.0, 0.1, (1.3, 2.3), (2.3, 2.8)
    ),
    "mass_spring_damper": PortTrajectoryProtocol(
        "mass_spring_damper", 50, 51, 10.0, 0.1, (0.1, 1.0), (1.0, 1.5)
    ),
    # H(t) is learned as a function of t: the data span the evaluation's [0, 20], since an
    # MLP of t cannot extrapolate the modulation past the times it saw
    "parametric_spring": PortTrajectoryProtocol(
        "parametric_spring", 50, 101, 20.0, 0.1, (0.1, 1.0), (1.0, 1.5)
    ),
}


@dataclass(frozen=True)
class PortTrajectoryData:
    """A split set of driven trajectories (float32 tensors; the signals keep float64).

    Attributes:
        t: save times ``(T,)``.
        train_states, test_states: observed (noisy) states ``(n_traj, T, dim)``.
        train_clean, test_clean: the same states without noise.
        train_dxdt, test_dxdt: clean time derivatives ``(J - R) grad H + G u`` at the clean
            states ``(n_traj, T, dim)``.
        train_inputs, test_inputs: the inputs ``u`` at the save times ``(n_traj, T, m)``
            (``m = 0`` for an undriven system).
        train_signal, test_signal: the exact inputs ``u(t) -> (n_traj, m)`` of each split
            (``None`` for an undriven system), to drive rollouts between the save times.
    """

    t: torch.Tensor
    train_states: torch.Tensor
    train_clean: torch.Tensor
    train_dxdt: torch.Tensor
    train_inputs: torch.Tensor
    train_signal: Signal | None
    test_states: torch.Tensor
    test_clean: torch.Tensor
    test_dxdt: torch.Tensor
    test_inputs: torch.Tensor
    test_signal: Signal | None

    @staticmethod
    def flat(values: torch.Tensor) -> torch.Tensor:
        """``(n_traj, T, k)`` -> ``(n_traj * T, k)`` pairs for derivative regression."""
        return values.flatten(0, 1)  # also for m = 0 inputs, where reshape(-1, 0) is ambiguous


def _protocol(system: str) -> PortTrajectoryProtocol:
    if system not in PORT_PROTOCOLS:
        raise ValueError(
            f"unknown port system {system!r}; choose one of {', '.join(PORT_PROTOCOLS)}."
        )
    return PORT_PROTOCOLS[system]


def sample_port_initial_conditions(
    system: str,
    n: int,
    generator: torch.Generator,
    *,
    ood: bool = False,
    protocol: PortTrajectoryProtocol | None = None,
) -> torch.Tensor:
    """Initial states ``(n, dim)`` (float64): radii uniform in the protocol's range (``ood``:
    its out-of-distribution range), directions uniform on the sphere of ``R^dim`` (normalised
    Gaussians; for ``dim = 2`` a uniform angle). Drawn radii first, then directions."""
    protocol = _protocol(system) if protocol is None else protocol
    dim = PORT_SYSTEMS[protocol.system]().dim
    lo, hi = protocol.ood_radius if ood else protocol.radius
    r = lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)  # (n,)
    d = torch.randn(n, dim, generator=generator, dtype=torch.float64)  # (n, dim)
    return r[:, None] * d / d.norm(dim=1, keepdim=True)


def port_reference_rollout(
    system: PortHamiltonianSystem,
    x0: torch.Tensor,
    t: torch.Tensor,
    signal: Signal | None = None,
) -> torch.Tensor:
    """The true trajectories ``(T, batch, dim)`` in float64 driven by ``signal`` (``u(t) ->
    (batch, m)``; ``None`` for an undriven system): the exact solution for the damped spring,
    Tsit5 at ``rtol = atol = 1e-11`` landing on every output time otherwise."""
    system = system.double()
    x0 = x0.double()
    t = torch.as_tensor(t, dtype=torch.float64)
    if system.inputs and signal is None:
        raise ValueError(f"{type(system).__name__} is driven: pass the signal u(t).")
    if isinstance(system, DampedSpring):
        return system.solution(x0, t)
    field = system.with_input(signal) if system.inputs else system
    with torch.no_grad():
        return odeint(field, x0, t, Tsit5(rtol=1e-11, atol=1e-11, dense_output=False))


def port_trajectory_data(
    system: str, generator: torch.Generator, protocol: PortTrajectoryProtocol | None = None
) -> PortTrajectoryData:
    """Draw a port protocol's data set: noisy states, clean derivatives, recorded inputs,
    split by trajectory.

    Randomness, all from ``generator`` in this order: initial states, excitations (driven
    systems), observation noise.

    Args:
        system: a :data:`PORT_PROTOCOLS` name.
        generator: the only source of randomness.
        protocol: overrides :data:`PORT_PROTOCOLS` ``[system]`` (e.g. fewer trajectories).
    """
    protocol = _protocol(system) if protocol is None else protocol
    n = protocol.n_trajectories
    n_test = int(round(protocol.test_fraction * n))
    n_train = n - n_test
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"{n} trajectories with test_fraction={protocol.test_fraction} leave an empty "
            "split; draw at least 2 trajectories."
        )
    if not isinstance(protocol.n_points, int) or protocol.n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {protocol.n_points!r}.")
    if not (math.isfinite(protocol.t_end) and protocol.t_end > 0):
        raise ValueError(f"t_end must be a positive number, got {protocol.t_end!r}.")
    truth = build_port_system(protocol.system).double()
    x0 = sample_port_initial_conditions(system, n, generator, protocol=protocol)
    signal = None
    if truth.inputs:
        signal = random_sinusoids(
            n,
            generator,
            inputs=truth.inputs,
            terms=protocol.terms,
            amplitude=protocol.amplitude,
            frequency=protocol.frequency,
        )
    t = torch.linspace(0.0, protocol.t_end, protocol.n_points, dtype=torch.float64)
    clean = port_reference_rollout(truth, x0, t, signal).transpose(0, 1)  # (n, T, dim)
    if signal is None:
        inputs = clean.new_zeros(n, len(t), 0)
    else:
        inputs = signal.sample(t)  # (n, T, m)
    with torch.no_grad():
        dxdt = torch.stack(
            [truth.field(t[k], clean[:, k], inputs[:, k]) for k in range(len(t))], dim=1
        )  # (n, T, dim)
    noisy = clean + protocol.noise * torch.randn(clean.shape, generator=generator).double()
    f = torch.float32
    train, test = slice(0, n_train), slice(n_train, n)
    return PortTrajectoryData(
        t=t.to(f),
        train_states=noisy[train].to(f),
        train_clean=clean[train].to(f),
        train_dxdt=dxdt[train].to(f),
        train_inputs=inputs[train].to(f),
        train_signal=None if signal is None else signal[train],
        test_states=noisy[test].to(f),
        test_clean=clean[test].to(f),
        test_dxdt=dxdt[test].to(f),
        test_inputs=inputs[test].to(f),
        test_signal=None if signal is None else signal[test],
    )
