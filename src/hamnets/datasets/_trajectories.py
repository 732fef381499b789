"""Trajectory data for Hamiltonian neural networks: the protocols of Greydanus et al. (2019)
and the data of the DiffEqFlux ``HamiltonianNN`` tutorial.

Every sampler takes a ``torch.Generator``; nothing here touches the global random state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..integrate import Tsit5, odeint
from ..systems import HamiltonianSystem, Pendulum, Spring, TwoBody


@dataclass(frozen=True)
class TrajectoryProtocol:
    """How a data set of trajectories is drawn.

    Attributes:
        system: the ``--system`` name (``spring``, ``pendulum``, ``two_body``).
        n_trajectories: trajectories drawn (split into train and test).
        n_points: states saved per trajectory, evenly spaced on ``[0, t_end]``.
        t_end: length of a trajectory.
        noise: standard deviation of the Gaussian noise added to the saved states (the
            derivative targets stay clean).
        radius: range of the initial radius (phase-space radius for spring and pendulum, orbit
            radius for two-body), drawn uniformly.
        ood_radius: radius range of the out-of-distribution initial conditions.
        test_fraction: fraction of the trajectories held out for testing.
    """

    system: str
    n_trajectories: int
    n_points: int
    t_end: float
    noise: float
    radius: tuple[float, float]
    ood_radius: tuple[float, float]
    test_fraction: float = 0.5


#: The paper's protocols (Greydanus, Dzamba and Yosinski 2019, section 4 and its code).
PROTOCOLS = {
    "spring": TrajectoryProtocol("spring", 50, 30, 3.0, 0.1, (0.1, 1.0), (1.0, 1.5)),
    "pendulum": TrajectoryProtocol("pendulum", 50, 45, 3.0, 0.1, (1.3, 2.3), (2.3, 2.8)),
    "two_body": TrajectoryProtocol("two_body", 1000, 50, 20.0, 0.0, (0.5, 1.5), (1.5, 2.0)),
}

SYSTEMS: dict[str, type[HamiltonianSystem]] = {
    "spring": Spring,
    "pendulum": Pendulum,
    "two_body": TwoBody,
}


@dataclass(frozen=True)
class TrajectoryData:
    """A split set of trajectories.

    Attributes:
        t: save times ``(T,)``.
        train_states, test_states: observed (noisy) states ``(n_traj, T, dim)``.
        train_clean, test_clean: the same states without noise.
        train_dxdt, test_dxdt: clean time derivatives ``J grad H`` at the clean states.
    """

    t: torch.Tensor
    train_states: torch.Tensor
    train_clean: torch.Tensor
    train_dxdt: torch.Tensor
    test_states: torch.Tensor
    test_clean: torch.Tensor
    test_dxdt: torch.Tensor

    @staticmethod
    def flat(states: torch.Tensor) -> torch.Tensor:
        """``(n_traj, T, dim)`` -> ``(n_traj * T, dim)`` pairs for derivative regression."""
        return states.reshape(-1, states.shape[-1])


def _uniform(n: int, lo: float, hi: float, generator: torch.Generator) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=generator, dtype=torch.float64)


def sample_initial_conditions(
    system: str, n: int, generator: torch.Generator, *, ood: bool = False
) -> torch.Tensor:
    """Initial states ``(n, dim)`` (float64) of a protocol's distribution.

    Spring and pendulum: a uniformly random direction in the ``(q, p)`` plane scaled to a radius
    drawn uniformly from the protocol's range. Two-body: the bodies at ``+-r (cos a, sin a)``
    with the velocity of a circular orbit, ``1 / (2 sqrt(r))`` each, perpendicular to the radius,
    scaled by ``1 + 0.05 N(0, 1)`` (slightly eccentric orbits); total momentum zero.
    """
    protocol = _protocol(system)
    lo, hi = protocol.ood_radius if ood else protocol.radius
    r = _uniform(n, lo, hi, generator)  # (n,)
    angle = _uniform(n, 0.0, 2 * math.pi, generator)
    if system in ("spring", "pendulum"):
        return torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)  # (n, 2)
    speed = 1.0 / (2.0 * r.sqrt()) * (1 + 0.05 * torch.randn(n, generator=generator).double())
    pos = torch.stack([r * torch.cos(angle), r * torch.sin(angle)], dim=1)  # (n, 2)
    vel = speed[:, None] * torch.stack([-torch.sin(angle), torch.cos(angle)], dim=1)
    return torch.cat([pos, -pos, vel, -vel], dim=1)  # (n, 8) = [q1, q2, p1, p2]


def _protocol(system: str) -> TrajectoryProtocol:
    if system not in PROTOCOLS:
        raise ValueError(f"unknown system {system!r}; choose one of {', '.join(PROTOCOLS)}.")
    return PROTOCOLS[system]


def reference_rollout(system: HamiltonianSystem, x0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The true trajectories ``(T, batch, dim)`` in float64: the exact solution for the spring,
    Tsit5 at ``rtol = atol = 1e-11`` landing on every output time otherwise."""
    x0 = x0.double()
    t = torch.as_tensor(t, dtype=torch.float64)
    if isinstance(system, Spring):
        return system.solution(x0, t)
    with torch.no_grad():
        return odeint(system.double(), x0, t, Tsit5(rtol=1e-11, atol=1e-11, dense_output=False))


def trajectory_data(
    system: str, generator: torch.Generator, protocol: TrajectoryProtocol | None = None
) -> TrajectoryData:
    """Draw a protocol's data set (float32): noisy states, clean derivatives, split by trajectory.

    Args:
        system: ``spring``, ``pendulum`` or ``two_body``.
        generator: the only source of randomness.
        protocol: overrides :data:`PROTOCOLS` ``[system]`` (e.g. fewer trajectories in tests).
    """
    protocol = _protocol(system) if protocol is None else protocol
    truth = SYSTEMS[system]().double()
    x0 = sample_initial_conditions(system, protocol.n_trajectories, generator)
    t = torch.linspace(0.0, protocol.t_end, protocol.n_points, dtype=torch.float64)
    clean = reference_rollout(truth, x0, t).transpose(0, 1)  # (n_traj, T, dim)
    dxdt = truth(clean.reshape(-1, truth.dim)).reshape(clean.shape)
    noisy = clean + protocol.noise * torch.randn(clean.shape, generator=generator).double()
    n_test = int(round(protocol.test_fraction * protocol.n_trajectories))
    n_train = protocol.n_trajectories - n_test
    if n_train < 1 or n_test < 1:
        raise ValueError(
            f"{protocol.n_trajectories} trajectories with test_fraction="
            f"{protocol.test_fraction} leave an empty split; draw at least 2 trajectories."
        )
    f = torch.float32
    return TrajectoryData(
        t=t.to(f),
        train_states=noisy[:n_train].to(f),
        train_clean=clean[:n_train].to(f),
        train_dxdt=dxdt[:n_train].to(f),
        test_states=noisy[n_train:].to(f),
        test_clean=clean[n_train:].to(f),
        test_dxdt=dxdt[n_train:].to(f),
    )


def tutorial_data(n_points: int = 1024) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The DiffEqFlux ``HamiltonianNN`` tutorial data: ``q = sin(2 pi t)``, ``p = cos(2 pi t)``
    on ``n_points`` times evenly spaced in ``[0, 1]``.

    Returns:
        ``t`` ``(N,)``, states ``(N, 2)`` and their time derivatives
        ``(2 pi cos(2 pi t), -2 pi sin(2 pi t))`` ``(N, 2)``, float32.
    """
    if not isinstance(n_points, int) or n_points < 2:
        raise ValueError(f"n_points must be an integer >= 2, got {n_points!r}.")
    t = torch.linspace(0.0, 1.0, n_points)
    w = 2 * math.pi
    x = torch.stack([torch.sin(w * t), torch.cos(w * t)], dim=1)  # (N, 2)
    dxdt = torch.stack([w * torch.cos(w * t), -w * torch.sin(w * t)], dim=1)  # (N, 2)
    return t, x, dxdt


def denoise_with_derivatives(
    states: torch.Tensor, dxdt: torch.Tensor, t: torch.Tensor
) -> torch.Tensor:
    """Estimate the clean states of trajectories from noisy states and clean derivatives.

    Along trajectory ``i`` the clean state is ``x_i(t_k) = c_i + D_ik`` with
    ``D_ik = int_{t_0}^{t_k} dx/dt``. ``D`` is integrated from the derivative samples by the
    trapezoidal rule with its end correction ``h^2 / 12 (f'_k - f'_{k+1})`` (``f'`` by finite
    differences; fourth order on a uniform grid), and the one unknown offset per trajectory is
    the least-squares fit ``c_i = mean_k (y_ik - D_ik)``. Observation noise of standard deviation
    ``sigma`` on ``T`` states thus leaves an error of about ``sigma / sqrt(T)`` shared along the
    trajectory, instead of ``sigma`` on every state.

    Args:
        states: noisy states ``(n_traj, T, dim)``.
        dxdt: clean time derivatives at the same points ``(n_traj, T, dim)``.
        t: uniformly spaced times ``(T,)``, ``T >= 3``.

    Returns:
        denoised states ``(n_traj, T, dim)``.
    """
    if states.shape != dxdt.shape or states.ndim != 3 or states.shape[1] != t.shape[0]:
        raise ValueError(
            f"states {tuple(states.shape)}, dxdt {tuple(dxdt.shape)} and t {tuple(t.shape)} must "
            "be (n_traj, T, dim), (n_traj, T, dim) and (T,)."
        )
    if t.shape[0] < 3:
        raise ValueError(f"denoising needs at least 3 times per trajectory, got {t.shape[0]}.")
    f = dxdt.double()
    h = float(t[1] - t[0])
    df = torch.gradient(f, spacing=h, dim=1, edge_order=2)[0]  # (n_traj, T, dim)
    step = 0.5 * h * (f[:, 1:] + f[:, :-1]) + h * h / 12.0 * (df[:, :-1] - df[:, 1:])
    d = torch.cat([torch.zeros_like(f[:, :1]), step.cumsum(dim=1)], dim=1)  # (n_traj, T, dim)
    c = (states.double() - d).mean(dim=1, keepdim=True)  # (n_traj, 1, dim)
    return (c + d).to(states.dtype)
