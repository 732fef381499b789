"""The exploding-gradient counterexample (Appendix III of arXiv:2105.13205)."""

from __future__ import annotations

import math

import pytest
import torch

from hamnets.analysis import (
    CounterexampleConfig,
    counterexample,
    counterexample_jacobians,
    counterexample_trajectory,
    symplecticity_residual,
)

J = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)


@pytest.fixture(scope="module")
def default():
    return counterexample()


def test_default_numbers(default) -> None:
    m = default.metrics()
    assert default.config.n_steps == 400
    assert default.bsm.shape == default.bsm_fd.shape == (401, 2, 2)
    assert abs(m["determinant"] - 1.0) < 1e-9
    assert m["spectral_norm"] == pytest.approx(6.598, abs=1e-3)
    assert m["bsm"][1][1] == pytest.approx(-5.0155, abs=1e-3)
    torch.testing.assert_close(default.bsm[0], torch.eye(2, dtype=torch.float64))
    assert default.t[-1].item() == pytest.approx(20.0)


def test_every_bsm_is_symplectic_and_grows(default) -> None:
    assert symplecticity_residual(J, default.bsm).max() < 1e-10
    norms = torch.linalg.matrix_norm(default.bsm, ord=2)
    assert norms.min() >= 1 - 1e-12
    assert norms[-1] > 6.0  # exploding: grows about linearly with the lag t


def test_step_is_the_component_by_component_symplectic_euler() -> None:
    y0 = torch.tensor([0.3, -0.7], dtype=torch.float64)
    eps, h = 0.7, 0.1
    y1 = 0.3 - h * eps * math.tanh(-0.7)
    y2 = -0.7 + h * eps * math.tanh(y1)
    states = counterexample_trajectory(y0, 1, eps, h)
    assert states.shape == (2, 2)
    torch.testing.assert_close(states[1], torch.tensor([y1, y2], dtype=torch.float64))


def test_exact_bsm_matches_autograd_of_the_whole_run() -> None:
    cfg = CounterexampleConfig(t_end=2.0, h=0.05)
    res = counterexample(cfg, finite_difference=False)
    assert res.bsm_fd is None and "bsm_finite_difference" not in res.metrics()
    y0 = torch.tensor(cfg.y0, dtype=torch.float64)
    jac = torch.autograd.functional.jacobian(
        lambda y: counterexample_trajectory(y, cfg.n_steps, cfg.epsilon, cfg.h)[-1], y0
    )
    torch.testing.assert_close(res.bsm[-1], jac, rtol=1e-12, atol=1e-12)
    step = counterexample_jacobians(res.states, cfg.epsilon, cfg.h)
    torch.testing.assert_close(torch.linalg.det(step), torch.ones(cfg.n_steps, dtype=torch.float64))


def test_finite_difference_converges_to_the_exact_bsm_at_first_order() -> None:
    errors = []
    for gamma in (1e-3, 1e-4):
        res = counterexample(CounterexampleConfig(gamma=gamma))
        errors.append((res.bsm_fd - res.bsm).abs().max().item())
    assert errors[0] < 0.02
    assert errors[1] / errors[0] == pytest.approx(0.1, rel=0.1)  # O(gamma)
    fd0 = res.bsm_fd[0]  # a perturbation at T itself is returned as it is
    torch.testing.assert_close(fd0, torch.eye(2, dtype=torch.float64))


def test_growth_depends_on_epsilon_times_t(default) -> None:
    # eps = 0.1, T = 200 with h = 0.5 has the same eps*h and number of steps as the default
    # (eps = 1, T = 20, h = 0.05): the same discrete map, so the same BSMs to rounding.
    slow = counterexample(
        CounterexampleConfig(epsilon=0.1, t_end=200.0, h=0.5), finite_difference=False
    )
    torch.testing.assert_close(slow.bsm, default.bsm, rtol=1e-12, atol=1e-12)
    # With the same h for both, the two runs discretise the same rescaled flow with steps
    # eps*h ten times apart; they differ by symplectic Euler's first-order error only:
    # 6.4 % of the norm at h = 0.05, and the gap halves when h halves.
    gaps = []
    for h in (0.05, 0.025):
        fast = counterexample(CounterexampleConfig(h=h), finite_difference=False).bsm[-1]
        slow_cfg = CounterexampleConfig(epsilon=0.1, t_end=200.0, h=h)
        slow = counterexample(slow_cfg, finite_difference=False).bsm[-1]
        gaps.append((torch.linalg.matrix_norm(fast - slow, ord=2) / slow.norm(p=2)).item())
    assert gaps[0] < 0.07
    assert gaps[1] / gaps[0] == pytest.approx(0.5, abs=0.05)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"h": 0.03}, "whole number"),
        ({"epsilon": 0.0}, "epsilon"),
        ({"gamma": -1.0}, "gamma"),
        ({"t_end": float("nan")}, "t_end"),
        ({"y0": (0.0, 0.0)}, "normalised"),
        ({"y0": (1.0, 2.0, 3.0)}, "two finite"),
    ],
)
def test_bad_configs_raise(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        CounterexampleConfig(**kwargs)


def test_perturbed_run_starts_at_the_kicked_state(default) -> None:
    e2 = torch.tensor([0.0, 1.0], dtype=torch.float64)
    run = default.perturbed(400, e2)
    assert run.shape == (401, 2)
    torch.testing.assert_close(run[0], default.states[0] + 0.05 * e2)
    with pytest.raises(ValueError, match="lag_index"):
        default.perturbed(401, e2)
