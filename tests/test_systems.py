import math

import pytest
import torch

from hamnets.datasets import (
    PROTOCOLS,
    TrajectoryProtocol,
    reference_rollout,
    sample_initial_conditions,
    trajectory_data,
    tutorial_data,
)
from hamnets.systems import Pendulum, Spring, TwoBody

SYSTEMS = (Spring, Pendulum, TwoBody)


def test_exact_hamiltonians():
    x = torch.tensor([[0.5, -2.0]], dtype=torch.float64)
    assert Spring().hamiltonian(x).item() == pytest.approx(0.25 + 4.0)
    assert Pendulum().hamiltonian(x).item() == pytest.approx(3 * (1 - math.cos(0.5)) + 4.0)
    # bodies at (1, 0) and (-1, 0), momenta (0, 1) and (0, -1): H = 1/2 + 1/2 - 1/2
    x8 = torch.tensor([[1.0, 0.0, -1.0, 0.0, 0.0, 1.0, 0.0, -1.0]], dtype=torch.float64)
    assert TwoBody().hamiltonian(x8).item() == pytest.approx(0.5)


@pytest.mark.parametrize("system_cls", SYSTEMS)
def test_closed_form_field_matches_autograd(system_cls):
    system = system_cls().double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(7, system.dim, generator=g, dtype=torch.float64)
    if system_cls is TwoBody:
        x[:, 0:2] += 2.0  # keep the bodies apart
    x.requires_grad_(True)
    (grad,) = torch.autograd.grad(system.hamiltonian(x).sum(), x)
    n = system.dim // 2
    expected = torch.cat([grad[:, n:], -grad[:, :n]], dim=1)
    torch.testing.assert_close(system(x.detach()), expected, rtol=1e-12, atol=1e-12)


def test_spring_solution_solves_the_ode():
    spring = Spring().double()
    x0 = torch.tensor([[0.3, -0.7], [1.0, 0.0]], dtype=torch.float64)
    t = torch.linspace(0, 5, 11, dtype=torch.float64).requires_grad_(True)
    sol = spring.solution(x0, t)  # (T, 2, 2)
    assert sol.shape == (11, 2, 2)
    dq = torch.autograd.grad(sol[..., 0].sum(), t, retain_graph=True)[0]
    dp = torch.autograd.grad(sol[..., 1].sum(), t)[0]
    f = spring(sol.detach().reshape(-1, 2)).reshape(11, 2, 2).sum(1)
    torch.testing.assert_close(torch.stack([dq, dp], 1), f, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name", ["pendulum", "two_body"])
def test_reference_rollout_conserves_energy(name):
    system = {"pendulum": Pendulum, "two_body": TwoBody}[name]().double()
    x0 = sample_initial_conditions(name, 3, torch.Generator().manual_seed(0))
    xs = reference_rollout(system, x0, torch.linspace(0, 20, 101))
    h = system.hamiltonian(xs.reshape(-1, system.dim)).reshape(101, 3)
    assert (h - h[0]).abs().max().item() < 1e-8


def test_protocol_data_shapes_seeding_and_targets():
    protocol = TrajectoryProtocol("spring", 6, 30, 3.0, 0.1, (0.1, 1.0), (1.0, 1.5))
    a = trajectory_data("spring", torch.Generator().manual_seed(3), protocol)
    b = trajectory_data("spring", torch.Generator().manual_seed(3), protocol)
    assert a.train_states.shape == (3, 30, 2) and a.test_states.shape == (3, 30, 2)
    assert torch.equal(a.train_states, b.train_states)
    radius = a.train_clean.norm(dim=-1)  # energy r^2 is conserved by the spring
    assert ((radius >= 0.1 - 1e-5) & (radius <= 1.0 + 1e-5)).all()
    torch.testing.assert_close(
        a.train_dxdt, Spring()(a.train_clean.reshape(-1, 2)).reshape(3, 30, 2)
    )
    noise = (a.train_states - a.train_clean).std().item()
    assert 0.05 < noise < 0.15


def test_paper_protocols():
    assert (PROTOCOLS["spring"].n_trajectories, PROTOCOLS["spring"].n_points) == (50, 30)
    assert PROTOCOLS["pendulum"].n_points == 45 and PROTOCOLS["pendulum"].radius == (1.3, 2.3)
    assert PROTOCOLS["two_body"].noise == 0.0 and PROTOCOLS["two_body"].t_end == 20.0
    x0 = sample_initial_conditions("two_body", 5, torch.Generator().manual_seed(0))
    assert x0.shape == (5, 8)
    torch.testing.assert_close(x0[:, 4:6] + x0[:, 6:8], torch.zeros(5, 2, dtype=torch.float64))


def test_tutorial_data():
    t, x, dxdt = tutorial_data(1024)
    assert t.shape == (1024,) and x.shape == (1024, 2) and dxdt.shape == (1024, 2)
    torch.testing.assert_close(x[256], torch.tensor([1.0, 0.0]), atol=1e-2, rtol=0)
    torch.testing.assert_close(dxdt, Spring()(x) * math.pi, atol=1e-4, rtol=1e-4)


def test_unknown_system_raises():
    with pytest.raises(ValueError, match="unknown system 'moon'"):
        sample_initial_conditions("moon", 2, torch.Generator())


def test_denoise_with_derivatives_recovers_clean_states():
    from hamnets.datasets import denoise_with_derivatives

    protocol = TrajectoryProtocol("pendulum", 8, 45, 3.0, 0.1, (1.3, 2.3), (2.3, 2.8))
    d = trajectory_data("pendulum", torch.Generator().manual_seed(0), protocol)
    den = denoise_with_derivatives(d.train_states, d.train_dxdt, d.t)
    assert den.shape == d.train_states.shape
    noisy_mse = (d.train_states - d.train_clean).pow(2).mean().item()
    den_mse = (den - d.train_clean).pow(2).mean().item()
    assert noisy_mse > 0.005 and den_mse < noisy_mse / 10
    # without noise only the quadrature error remains (45 points on [0, 3], large swings)
    exact = denoise_with_derivatives(d.train_clean, d.train_dxdt, d.t)
    assert (exact - d.train_clean).abs().max().item() < 5e-4
    with pytest.raises(ValueError, match="must be"):
        denoise_with_derivatives(d.train_states, d.train_dxdt[:, :3], d.t)
