import math

import pytest
import torch
from helpers import (
    ALL_INTEGRATORS,
    SYMPLECTIC_INTEGRATORS,
    NonSeparable,
    integrate_fixed,
    loglog_slope,
    random_hnn,
)

from hamnets import canonical_j
from hamnets.hnn import EnergyMLP, SeparableHamiltonianNN
from hamnets.integrate import (
    RK4,
    Dopri5,
    Euler,
    ImplicitMidpoint,
    Leapfrog,
    SymplecticEuler,
    Tsit5,
    Yoshida4,
    odeint,
)
from hamnets.systems import Pendulum, Spring

F64 = torch.float64
# step counts on [0, 1] for the spring (angular frequency 2): in the asymptotic range, above
# round-off for every order
STEPS = {
    1: (200, 400, 800, 1600),
    2: (50, 100, 200, 400),
    4: (10, 20, 40, 80),
    5: (20, 40, 80, 160),
}


def _solver(cls):
    return cls() if cls in (Tsit5, Dopri5) else cls(dt=None)


@pytest.mark.parametrize("cls", ALL_INTEGRATORS, ids=lambda c: c.__name__)
def test_convergence_order(cls):
    spring = Spring().double()
    x0 = torch.tensor([[0.6, -0.3]], dtype=F64)
    exact = spring.solution(x0, torch.tensor([0.0, 1.0], dtype=F64))[-1]
    solver = _solver(cls)
    steps = STEPS[cls.order]
    errors = [
        (integrate_fixed(solver, spring, x0, 1.0, n) - exact).abs().max().item() for n in steps
    ]
    slope = loglog_slope([1.0 / n for n in steps], errors)
    assert abs(slope - cls.order) < 0.3, (errors, slope)


@pytest.mark.parametrize("cls", (Tsit5, Dopri5), ids=lambda c: c.__name__)
def test_embedded_error_estimate_has_local_order_five(cls):
    spring, solver = Spring().double(), cls()
    x0 = torch.tensor([[0.6, -0.3]], dtype=F64)
    hs = (0.2, 0.1, 0.05, 0.025)
    errs = [solver.attempt(spring, x0, spring(x0), h)[2].abs().max().item() for h in hs]
    assert abs(loglog_slope(hs, errs) - 5) < 0.3  # the embedded 4th-order solution: O(h^5)


@pytest.mark.parametrize("cls", (Tsit5, Dopri5), ids=lambda c: c.__name__)
@pytest.mark.parametrize("dense", (True, False))
def test_adaptive_meets_tolerance_at_output_times(cls, dense):
    spring = Spring().double()
    x0 = torch.tensor([[1.0, 0.0], [0.2, 0.5], [-0.7, 0.1]], dtype=F64)
    t = torch.linspace(0, 10, 101, dtype=F64)
    exact = spring.solution(x0, t)
    errs = []
    for tol in (1e-5, 1e-7, 1e-9):
        ys = odeint(spring, x0, t, cls(rtol=tol, atol=tol, dense_output=dense))
        assert ys.shape == (101, 3, 2)
        errs.append((ys - exact).abs().max().item())
    assert errs[0] < 3e-3 and errs[2] < 1e-6
    assert errs[0] > errs[1] > errs[2]


@pytest.mark.parametrize("cls", (Euler, RK4, Leapfrog, ImplicitMidpoint), ids=lambda c: c.__name__)
def test_batched_equals_one_by_one(cls):
    pend = Pendulum().double()
    x0 = torch.tensor([[1.0, 0.0], [0.2, 0.5], [-1.7, 0.1]], dtype=F64)
    t = torch.linspace(0, 2, 5, dtype=F64)
    ys = odeint(pend, x0, t, cls(dt=0.05))
    for i in range(3):
        torch.testing.assert_close(ys[:, i], odeint(pend, x0[i], t, cls(dt=0.05)))


@pytest.mark.parametrize("cls", (Leapfrog, Yoshida4), ids=lambda c: c.__name__)
def test_reversibility(cls):
    pend, solver = Pendulum().double(), cls()
    x0 = torch.tensor([[1.1, -0.4], [2.0, 0.3]], dtype=F64)
    x = x0
    for _ in range(50):
        x = solver.step(pend, x, 0.1)
    for _ in range(50):
        x = solver.step(pend, x, -0.1)
    torch.testing.assert_close(x, x0, rtol=0, atol=1e-12)


def _one_step_jacobian(solver, field, x0: torch.Tensor, h: float) -> torch.Tensor:
    return torch.autograd.functional.jacobian(lambda x: solver.step(field, x[None], h)[0], x0)


@pytest.mark.parametrize("cls", SYMPLECTIC_INTEGRATORS, ids=lambda c: c.__name__)
def test_one_step_map_is_symplectic(cls):
    field = Pendulum().double()
    solver = cls(tol=1e-15) if cls is ImplicitMidpoint else cls()
    for x0 in (torch.tensor([1.2, -0.5], dtype=F64), torch.tensor([2.5, 0.9], dtype=F64)):
        m = _one_step_jacobian(solver, field, x0, 0.3)
        j = canonical_j(2, dtype=F64)
        torch.testing.assert_close(m.T @ j @ m, j, rtol=0, atol=1e-12)


@pytest.mark.parametrize("field", ["nonseparable", "hnn"])
def test_implicit_midpoint_symplectic_for_nonseparable_h(field):
    f = NonSeparable().double() if field == "nonseparable" else random_hnn(dim=4)
    x0 = torch.linspace(-0.8, 0.9, f.dim, dtype=F64)
    m = _one_step_jacobian(ImplicitMidpoint(tol=1e-15), f, x0, 0.1)
    j = canonical_j(f.dim, dtype=F64)
    torch.testing.assert_close(m.T @ j @ m, j, rtol=0, atol=1e-11)
    # the explicit RK4 step is not symplectic: the identity fails by far more than round-off
    m_rk4 = _one_step_jacobian(RK4(), f, x0, 0.5)
    assert (m_rk4.T @ j @ m_rk4 - j).abs().max().item() > 1e-8


def _energy_error(solver, field, x0, h, n) -> torch.Tensor:
    """Largest |H(x_k) - H(x_0)| over the first n/10 and all n steps."""
    with torch.no_grad():
        t = torch.arange(n + 1, dtype=F64) * h
        xs = odeint(field, x0, t, solver)
    err = field.hamiltonian(xs.reshape(-1, field.dim)).reshape(n + 1, -1) - field.hamiltonian(x0)
    err = err.abs().amax(dim=1)
    return err[: n // 10 + 1].max(), err.max()


# implicit midpoint iterates ~12 field evaluations per step: 10^4 steps take 10-20 s here
_ENERGY_CASES = [
    pytest.param(c, marks=pytest.mark.slow) if c is ImplicitMidpoint else c
    for c in SYMPLECTIC_INTEGRATORS
]


@pytest.mark.long(2)
@pytest.mark.parametrize("cls", _ENERGY_CASES, ids=lambda c: c.__name__)
def test_symplectic_energy_error_does_not_grow(cls):
    pend = Pendulum().double()
    x0 = torch.tensor([[1.5, 0.3], [0.5, -1.0]], dtype=F64)
    h = 0.2 if cls is not SymplecticEuler else 0.05
    solver = ImplicitMidpoint(tol=1e-8) if cls is ImplicitMidpoint else cls()
    e_1k, e_10k = _energy_error(solver, pend, x0, h, 10_000)
    assert e_1k > 0 and e_10k < 1.5 * e_1k, (e_1k, e_10k)


class _Rollout(torch.nn.Module):
    """``x0 -> odeint(field, x0, t, solver)`` as a module, so that ``functional_call`` can swap
    the field's parameters for the whole solve."""

    def __init__(self, field, solver, t):
        super().__init__()
        self.field, self.solver, self.t = field, solver, t

    def forward(self, x0):
        return odeint(self.field, x0, self.t, self.solver)


def _gradcheck_case(case):
    g = torch.Generator().manual_seed(0)
    sep = SeparableHamiltonianNN(
        EnergyMLP(1, (4,), generator=g), EnergyMLP(1, (4,), generator=g)
    ).double()
    hnn = random_hnn(dim=2, hidden=(4,))
    return [
        (hnn, Euler(dt=0.1)),
        (hnn, RK4(dt=0.1)),
        (hnn, ImplicitMidpoint(dt=0.1, tol=1e-14)),
        (hnn, Tsit5(rtol=1e-10, atol=1e-10, dt0=0.05)),
        (hnn, Dopri5(rtol=1e-10, atol=1e-10, dt0=0.05)),
        (sep, SymplecticEuler(dt=0.1)),
        (sep, Leapfrog(dt=0.1)),
        (sep, Yoshida4(dt=0.1)),
    ][case]


@pytest.mark.parametrize("case", range(8))
def test_odeint_gradcheck_inputs_and_parameters(case):
    field, solver = _gradcheck_case(case)
    rollout = _Rollout(field, solver, torch.tensor([0.0, 0.25, 0.5], dtype=F64))
    x0 = torch.tensor([[0.3, -0.2]], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(rollout, (x0,))
    name, w = next(iter(field.named_parameters()))

    def of_w(wv):
        return torch.func.functional_call(rollout, {"field." + name: wv}, (x0.detach(),))

    wv = w.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(of_w, (wv,))
    (grad,) = torch.autograd.grad(of_w(wv).sum(), wv)
    assert grad.abs().max().item() > 1e-6  # the swapped parameter really drives the solve


def test_bad_arguments_raise():
    spring = Spring()
    x0 = torch.zeros(3, 2)
    with pytest.raises(ValueError, match="dt must be a finite number > 0, got -0.1"):
        RK4(dt=-0.1)
    with pytest.raises(ValueError, match="rtol must be"):
        Tsit5(rtol=0)
    with pytest.raises(ValueError, match="strictly increasing"):
        odeint(spring, x0, [0.0, 1.0, 0.5])
    with pytest.raises(ValueError, match="1-D"):
        odeint(spring, x0, [[0.0, 1.0]])
    with pytest.raises(ValueError, match="shape"):
        odeint(lambda x: x[:, :1], x0, [0.0, 1.0], RK4())
    with pytest.raises(ValueError, match="NaN"):
        odeint(lambda x: x * math.nan, x0, [0.0, 1.0], Euler())
    with pytest.raises(ValueError, match="separable"):
        odeint(random_hnn(dim=2).float(), x0, [0.0, 1.0], Leapfrog())
    with pytest.raises(ValueError, match="x0 must be"):
        odeint(spring, torch.zeros(1, 1, 2), [0.0, 1.0])
    with pytest.raises(ValueError, match="max_steps"):
        odeint(spring, x0 + 1, [0.0, 100.0], Tsit5(max_steps=5))
    with pytest.raises(ValueError, match="did not converge"):
        odeint(spring, x0 + 1, [0.0, 10.0], ImplicitMidpoint(max_iter=3))
    with pytest.raises(ValueError, match="solver must be"):
        odeint(spring, x0, [0.0, 1.0], "rk4")


def test_solver_classes_state_order_and_symplecticity():
    table = {c.__name__: (c.order, c.symplectic) for c in ALL_INTEGRATORS}
    assert table == {
        "Euler": (1, False),
        "RK4": (4, False),
        "SymplecticEuler": (1, True),
        "Leapfrog": (2, True),
        "Yoshida4": (4, True),
        "ImplicitMidpoint": (2, True),
        "Tsit5": (5, False),
        "Dopri5": (5, False),
    }
