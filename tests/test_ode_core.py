"""The ODE core: the calling rule, exact-solution problems for every solver's order, reverse
time, max_steps, first-same-as-last economy, the methods' own dense output (gradients: see
test_ode_gradients.py)."""

import pytest
import torch
from exact_problems import PROBLEMS, ForcedOscillatorH, TimeEnergy, logistic, pendulum, sine
from helpers import ALL_INTEGRATORS, loglog_slope
from torch import nn

from hamnets._field import TimedField, takes_time
from hamnets.hnn import (
    EnergyMLP,
    HamiltonianNN,
    SeparableHamiltonianNN,
    TimeDependentHamiltonianNN,
    TimeDependentSeparableHamiltonianNN,
)
from hamnets.integrate import (
    RK4,
    Dopri5,
    Euler,
    ImplicitMidpoint,
    Leapfrog,
    Tsit5,
    Yoshida4,
    odeint,
)
from hamnets.integrate._interpolation import dense_weights
from hamnets.systems import Spring

F64 = torch.float64

# ---------------------------------------------------------------- the calling rule


def test_calling_rule_counts_required_positional_parameters():
    def f_tx(t, x):
        return x

    def f_x(x, scale=2.0):
        return x

    class TimeModule(nn.Module):
        def forward(self, t, x, *, flag=False):
            return x

    assert takes_time(f_tx) and not takes_time(f_x) and takes_time(TimeModule())
    assert not takes_time(Spring()) and not takes_time(lambda x, *rest: x)
    with pytest.raises(ValueError, match=r"requires \['a', 'b', 'c'\]"):
        takes_time(lambda a, b, c: a)
    with pytest.raises(ValueError, match="requires none"):
        takes_time(lambda *xs: xs[0])
    with pytest.raises(ValueError, match=r"requires \['x', 'k'\]"):
        takes_time(lambda x, *, k: x)
    with pytest.raises(ValueError, match="must take two required"):
        odeint(lambda a, b, c: a, torch.zeros(1, 2), [0.0, 1.0], Euler())


def test_time_is_a_scalar_tensor_of_the_state_dtype_and_the_rule_is_read_once():
    seen = []

    class Probe:
        reads = 0

        @property
        def __signature__(self):
            Probe.reads += 1
            import inspect

            return inspect.signature(lambda t, x: None)

        def __call__(self, t, x):
            seen.append(t)
            return torch.ones_like(x)

    ys = odeint(Probe(), torch.zeros(2, 1, dtype=F64), [0.0, 0.5, 1.0], RK4(dt=0.25))
    assert Probe.reads == 1
    assert all(isinstance(t, torch.Tensor) and t.ndim == 0 and t.dtype == F64 for t in seen)
    assert sorted({float(t) for t in seen}) == [k / 8 for k in range(9)]
    torch.testing.assert_close(ys[:, 0, 0], torch.tensor([0.0, 0.5, 1.0], dtype=F64))


def test_hnn_with_time_dependent_energy_is_a_field_f_t_x():
    hnn = HamiltonianNN(TimeEnergy()).double()
    assert isinstance(hnn, TimeDependentHamiltonianNN) and takes_time(hnn)
    assert not takes_time(HamiltonianNN(EnergyMLP(2)))
    t, x = torch.tensor(0.7, dtype=F64), torch.tensor([[0.3, -1.1], [2.0, 0.5]], dtype=F64)
    g = (1 + 0.35) * x + torch.stack([torch.sin(t).expand(2), torch.zeros(2, dtype=F64)], 1)
    torch.testing.assert_close(hnn(t, x), torch.stack([g[:, 1], -g[:, 0]], 1))
    ys = odeint(hnn, x, [0.0, 1.0], Tsit5(rtol=1e-9, atol=1e-9))
    assert ys.shape == (2, 2, 2)


def test_separable_hnn_with_time_dependent_potential_steps_with_leapfrog():
    class Drive(nn.Module):  # V(t, q) = q^2 / 2 - F cos(W t) q, as ForcedOscillatorH
        def forward(self, t, q):
            return 0.5 * (q**2).sum(-1) - 0.8 * torch.cos(1.7 * t) * q.sum(-1)

    class Kinetic(nn.Module):
        in_features = 1

        def forward(self, p):
            return 0.5 * (p**2).sum(-1)

    sep = SeparableHamiltonianNN(Kinetic(), Drive())
    assert isinstance(sep, TimeDependentSeparableHamiltonianNN) and takes_time(sep)
    x0 = torch.tensor([[0.5, 0.2]], dtype=F64)
    t = torch.linspace(0, 2, 5, dtype=F64)
    learned = odeint(sep, x0, t, Leapfrog(dt=0.01))
    exact = odeint(ForcedOscillatorH(), x0, t, Leapfrog(dt=0.01))
    torch.testing.assert_close(learned, exact, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- exact problems, every order

# step counts: in the asymptotic range and above round-off for every problem and order
_STEPS = {1: (200, 400, 800, 1600), 2: (25, 50, 100, 200), 4: (20, 40, 80, 160)}
_STEPS5 = {"pendulum": (80, 160, 320), "sine": (100, 200, 400)}
_CASES = [
    (mk, cls)
    for mk in PROBLEMS
    for cls in ALL_INTEGRATORS
    if not (cls.needs_separable and not mk().separable)
]


def _fixed_solve(solver, problem, n):
    f, h, x = TimedField(problem.field), (problem.t1 - problem.t0) / n, problem.x0
    for k in range(n):
        x = solver.step(f, x, h, problem.t0 + k * h)
    return x


@pytest.mark.parametrize("make,cls", _CASES, ids=[f"{m.__name__}-{c.__name__}" for m, c in _CASES])
def test_convergence_order_on_exact_problems(make, cls):
    problem = make()
    solver = cls() if cls.adaptive else cls(dt=None)  # adaptive ones: fixed steps via .step
    steps = _STEPS5.get(problem.name, (20, 40, 80, 160)) if cls.order == 5 else _STEPS[cls.order]
    if problem.name == "kepler":
        steps = tuple(4 * n for n in steps)  # a close periapsis passage: finer steps
    exact = problem.exact(problem.t1)
    errors = [(_fixed_solve(solver, problem, n) - exact).abs().max().item() for n in steps]
    slope = loglog_slope([1.0 / n for n in steps], errors)
    assert abs(slope - cls.order) < 0.3, (errors, slope)


# ---------------------------------------------------------------- reverse time

_REVERSE = [(pendulum, c) for c in ALL_INTEGRATORS] + [(sine, c) for c in (RK4, Tsit5, Dopri5)]


def _reverse_solver(cls):
    if cls.adaptive:
        return cls(rtol=1e-10, atol=1e-10)
    return ImplicitMidpoint(dt=0.01, tol=1e-14) if cls is ImplicitMidpoint else cls(dt=0.01)


@pytest.mark.parametrize(
    "make,cls", _REVERSE, ids=[f"{m.__name__}-{c.__name__}" for m, c in _REVERSE]
)
def test_reverse_time_equals_forward_time_reversed(make, cls):
    """Integrating f backwards over decreasing times is integrating g(s, x) = -f(-s, x) forwards
    over s = -t: the same steps, so the same states to round-off; and both match the exact
    solution backwards to the solver's accuracy."""
    problem = make()
    f = TimedField(problem.field)
    t = torch.linspace(problem.t1, problem.t0, 6, dtype=F64)
    x1 = problem.exact(problem.t1)
    backward = odeint(problem.field, x1, t, _reverse_solver(cls))

    class Mirrored:
        separable = problem.separable

        def __call__(self, s, x):
            return -f(-float(s), x)

        def dh_dq(self, s, q):
            return -f.dh_dq(-float(s), q)

        def dh_dp(self, s, p):
            return -f.dh_dp(-float(s), p)

    mirrored = odeint(Mirrored(), x1, -t, _reverse_solver(cls))
    torch.testing.assert_close(backward, mirrored, rtol=0, atol=1e-11)
    exact = torch.stack([problem.exact(float(s)) for s in t])
    tol = {1: 0.2, 2: 1e-3}.get(cls.order, 1e-6)
    assert (backward - exact).abs().max().item() < tol


@pytest.mark.parametrize("cls", (Leapfrog, Yoshida4), ids=lambda c: c.__name__)
def test_reversible_methods_return_to_the_start(cls):
    field = ForcedOscillatorH()  # time-dependent: the kick times must mirror as well
    x0 = torch.tensor([[0.5, 0.2], [-0.3, 1.0]], dtype=F64)
    there = odeint(field, x0, [0.0, 3.0], cls(dt=0.05))[-1]
    back = odeint(field, there, [3.0, 0.0], cls(dt=0.05))[-1]
    torch.testing.assert_close(back, x0, rtol=0, atol=1e-12)


# ---------------------------------------------------------------- max_steps


class _Counter:
    def __init__(self, field):
        self.field, self.calls = field, 0
        self.separable = getattr(field, "separable", False)
        self.dq = self.dp = 0

    def __call__(self, x):
        self.calls += 1
        return self.field(x)

    def dh_dq(self, q):
        self.dq += 1
        return self.field.dh_dq(q)

    def dh_dp(self, p):
        self.dp += 1
        return self.field.dh_dp(p)


@pytest.mark.parametrize("cls", [c for c in ALL_INTEGRATORS if not c.adaptive])
def test_fixed_step_max_steps_is_checked_before_the_first_step(cls):
    field = _Counter(Spring().double())
    x0 = torch.ones(1, 2, dtype=F64)
    with pytest.raises(ValueError, match="need 101 steps of dt=0.1 but max_steps=100"):
        odeint(field, x0, [0.0, 5.0, 10.01], cls(dt=0.1, max_steps=100))
    assert field.calls == field.dq == field.dp == 0
    assert odeint(field, x0, [0.0, 5.0, 10.0], cls(dt=0.1, max_steps=100)).shape == (3, 1, 2)


@pytest.mark.parametrize("cls", (Tsit5, Dopri5), ids=lambda c: c.__name__)
def test_adaptive_max_steps_stops_the_loop(cls):
    with pytest.raises(ValueError, match="more than max_steps=20"):
        odeint(Spring().double(), torch.ones(1, 2, dtype=F64), [0.0, -50.0], cls(max_steps=20))


# ---------------------------------------------------------------- first same as last


def _kdk(field, x, h, n):
    """The plain kick-drift-kick leapfrog, two force evaluations per step (the reference)."""
    q, p = x.chunk(2, dim=1)
    for _ in range(n):
        p = p - 0.5 * h * field.dh_dq(q)
        q = q + h * field.dh_dp(p)
        p = p - 0.5 * h * field.dh_dq(q)
    return torch.cat([q, p], 1)


def test_leapfrog_one_force_evaluation_per_step_same_states():
    from exact_problems import kepler

    problem = kepler()
    field = _Counter(problem.field)
    t = torch.linspace(0, 10, 11, dtype=F64)  # 10 output intervals of 100 steps
    ys = odeint(field, problem.x0, t, Leapfrog(dt=0.01))
    assert field.dq == 1000 + 1 and field.dp == 1000
    ref = _kdk(problem.field, problem.x0, 0.01, 1000)
    torch.testing.assert_close(ys[-1], ref, rtol=0, atol=1e-12)
    field.dq = field.dp = 0
    odeint(field, problem.x0, t, Yoshida4(dt=0.01))
    assert field.dq == 3 * 1000 + 1 and field.dp == 3 * 1000


# ---------------------------------------------------------------- dense output


@pytest.mark.parametrize("cls", (Tsit5, Dopri5), ids=lambda c: c.__name__)
def test_continuous_extension_ends_on_the_step_and_has_order_four(cls):
    solver = cls()
    torch.testing.assert_close(
        torch.tensor(dense_weights(cls.dense, 1.0), dtype=F64), torch.tensor(cls.b, dtype=F64)
    )
    assert all(abs(w) < 1e-15 for w in dense_weights(cls.dense, 0.0))
    problem = pendulum()
    f = TimedField(problem.field)
    hs, errs = (0.2, 0.1, 0.05, 0.025), []
    for h in hs:
        _, ks, _ = solver.stages(f, 0.0, problem.x0, f(0.0, problem.x0), h)
        mid = solver.interpolate(problem.x0, ks, h, 0.4)
        errs.append((mid - problem.exact(0.4 * h)).abs().max().item())
    assert abs(loglog_slope(hs, errs) - 5) < 0.3  # local error O(h^5): a 4th-order extension


@pytest.mark.parametrize("cls", (Tsit5, Dopri5), ids=lambda c: c.__name__)
@pytest.mark.parametrize("rtol", (1e-5, 1e-7))
def test_dense_output_error_is_of_the_order_of_the_tolerance(cls, rtol):
    problem = logistic()
    t = torch.linspace(0, 10, 61, dtype=F64)
    exact = torch.stack([problem.exact(float(s)) for s in t])
    atol = 1e-8
    ys = odeint(problem.field, problem.x0, t, cls(rtol=rtol, atol=atol))
    bound = 2 * (rtol * exact.abs() + atol)
    assert ((ys - exact).abs() <= bound).all(), ((ys - exact).abs() / bound).max()


@pytest.mark.parametrize("cls", (Leapfrog, Yoshida4), ids=lambda c: c.__name__)
def test_time_dependent_splitting_step_is_symplectic(cls):
    from hamnets import canonical_j

    field, solver = ForcedOscillatorH(), cls()
    x0 = torch.tensor([0.7, -0.4], dtype=F64)

    class Anharmonic(ForcedOscillatorH):  # V(t, q) = q^4/4 - F cos(W t) q: a nonlinear force
        def potential(self, t, q):
            return 0.25 * (q**4).sum(-1) - self.force * torch.cos(self.freq * t) * q.sum(-1)

        def dh_dq(self, t, q):
            return q**3 - self.force * torch.cos(self.freq * t)

    for f in (field, Anharmonic()):
        m = torch.autograd.functional.jacobian(
            lambda x, f=f: solver.step(f, x[None], 0.3, 1.1)[0], x0
        )
        j = canonical_j(2, dtype=F64)
        torch.testing.assert_close(m.T @ j @ m, j, rtol=0, atol=1e-13)


def test_a_tolerance_finer_than_the_dtype_is_refused_as_such():
    from hamnets.integrate import Tsit5, odeint

    x0 = torch.ones(1, 2)
    with pytest.raises(ValueError, match=r"rtol=1e-300 is below what torch.float32 can resolve"):
        odeint(lambda x: -x, x0, torch.tensor([0.0, 1.0]), Tsit5(rtol=1e-300, atol=1e-300))
    ys = odeint(lambda x: -x, x0.double(), torch.tensor([0.0, 1.0]), Tsit5(rtol=1e-12))
    assert torch.allclose(ys[-1], torch.exp(torch.tensor(-1.0, dtype=torch.float64)), atol=1e-9)


def test_an_energy_that_does_not_depend_on_the_state_is_refused_in_one_line():
    from torch import nn

    from hamnets.hnn import HamiltonianNN

    class Constant(nn.Module):
        in_features = 2

        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(1))

        def forward(self, x):
            return self.w.expand(x.shape[0])  # (batch,), not a function of x

    for grad_mode in (True, False):
        with torch.set_grad_enabled(grad_mode):
            with pytest.raises(ValueError, match="does not depend on the state"):
                HamiltonianNN(Constant())(torch.ones(3, 2))
