"""Gradients through ``odeint``: gradcheck/gradgradcheck with the default settings, and the
memory-lean strategies (Checkpointed, SymplecticAdjoint) against plain back-propagation."""

import weakref

import pytest
import torch
from exact_problems import TimeEnergy, sine

from hamnets.hnn import EnergyMLP, HamiltonianNN, SeparableHamiltonianNN
from hamnets.integrate import (
    RK4,
    Checkpointed,
    Dopri5,
    Euler,
    ImplicitMidpoint,
    Leapfrog,
    SymplecticAdjoint,
    Tsit5,
    Yoshida4,
    odeint,
)

F64 = torch.float64


@pytest.mark.long(2)
def test_gradcheck_through_default_odeint_sine_and_linear():
    problem = sine()
    t = torch.linspace(0.5, 1.5, 4, dtype=F64)
    y0 = problem.x0.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda y: odeint(problem.field, y, t), (y0,))

    a0 = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=F64, requires_grad=True)
    x0 = torch.tensor([[1.0, 0.5]], dtype=F64)
    ts = torch.linspace(0, 2, 5, dtype=F64)
    assert torch.autograd.gradcheck(lambda a: odeint(lambda x: x @ a.T, x0, ts), (a0,))
    assert torch.autograd.gradgradcheck(lambda a: odeint(lambda x: x @ a.T, x0, ts), (a0,))


def test_gradcheck_time_dependent_hnn():
    hnn = HamiltonianNN(TimeEnergy()).double()
    t = torch.tensor([0.0, 0.3, 0.6], dtype=F64)
    x0 = torch.tensor([[0.3, -0.2]], dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: odeint(hnn, x, t, RK4(dt=0.1)), (x0,))
    assert torch.autograd.gradgradcheck(lambda x: odeint(hnn, x, t, RK4(dt=0.1)), (x0,))
    assert torch.autograd.gradcheck(lambda x: odeint(hnn, x, t.flip(0), Tsit5()), (x0,))


def _mlp_hnn(dim, seed=0):
    return HamiltonianNN(EnergyMLP(dim, (16, 16), generator=torch.Generator().manual_seed(seed)))


def _sep_hnn(seed=0):
    g = torch.Generator().manual_seed(seed)
    return SeparableHamiltonianNN(EnergyMLP(1, (8,), generator=g), EnergyMLP(1, (8,), generator=g))


_LEAN = [
    ("rk4", lambda: _mlp_hnn(2).double(), lambda: RK4(dt=0.05)),
    ("euler", lambda: _mlp_hnn(2).double(), lambda: Euler(dt=0.05)),
    ("leapfrog", lambda: _sep_hnn().double(), lambda: Leapfrog(dt=0.05)),
    ("yoshida4", lambda: _sep_hnn().double(), lambda: Yoshida4(dt=0.05)),
    ("tsit5", lambda: _mlp_hnn(2).double(), lambda: Tsit5(rtol=1e-7, atol=1e-9)),
    ("dopri5_landing", lambda: _mlp_hnn(2).double(), lambda: Dopri5(dense_output=False)),
    ("implicit_midpoint", lambda: _mlp_hnn(2).double(), lambda: ImplicitMidpoint(dt=0.1)),
]


@pytest.mark.parametrize("gradient", (Checkpointed(every=7), SymplecticAdjoint()), ids=repr)
@pytest.mark.parametrize("name,make_field,make_solver", _LEAN, ids=[c[0] for c in _LEAN])
def test_lean_gradients_equal_backpropagation(gradient, name, make_field, make_solver):
    field, solver = make_field(), make_solver()
    x0 = torch.tensor([[0.3, -0.2], [1.0, 0.4]], dtype=F64, requires_grad=True)
    t = torch.tensor([0.0, 0.37, 1.0, 1.9], dtype=F64)
    weights = torch.linspace(-1, 1, 16, dtype=F64).reshape(4, 2, 2)

    def grads(gr):
        loss = (odeint(field, x0, t, solver, gradient=gr) * weights).sum()
        return torch.autograd.grad(loss, [x0, *field.parameters()])

    for a, b in zip(grads(None), grads(gradient), strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-12)
    with torch.no_grad():
        plain = odeint(field, x0, t, solver)
    torch.testing.assert_close(odeint(field, x0, t, solver, gradient=gradient), plain)


def test_lean_gradients_reach_closure_tensors_passed_as_params():
    a0 = torch.tensor([[-0.1, 2.0], [-2.0, -0.1]], dtype=F64, requires_grad=True)
    x0 = torch.tensor([[1.0, 0.5]], dtype=F64)
    ts = torch.linspace(0, 1, 3, dtype=F64)

    def run(a, gradient):
        return odeint(lambda x: x @ a.T, x0, ts, RK4(dt=0.1), gradient=gradient, params=[a])

    assert torch.autograd.gradcheck(lambda a: run(a, Checkpointed(every=3)), (a0,))
    assert torch.autograd.gradcheck(lambda a: run(a, SymplecticAdjoint()), (a0,))


def _saved_bytes(fn) -> int:
    """Bytes of the tensors saved for backward that are still held once ``fn`` returns (a
    field's gradient builds and frees a small graph of its own even without recording)."""
    saved = []

    def pack(t):
        saved.append(weakref.ref(t))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()  # kept alive while counting
    alive = {id(t): t for t in (r() for r in saved) if t is not None}
    del out
    return sum(t.numel() * t.element_size() for t in alive.values())


@pytest.mark.parametrize("cls", (RK4, Leapfrog), ids=lambda c: c.__name__)
def test_lean_gradients_keep_far_less_than_backpropagation(cls):
    """Saved-tensor bytes of the forward pass over 200 steps: the graph of plain
    back-propagation grows with the steps, the adjoint keeps one state per step, and the
    checkpoints keep one per segment."""
    field = (_sep_hnn() if cls is Leapfrog else _mlp_hnn(2)).double()
    x0 = torch.randn(16, 2, dtype=F64, generator=torch.Generator().manual_seed(0))
    x0.requires_grad_(True)
    t = [0.0, 2.0]

    def bytes_of(gradient):
        return _saved_bytes(lambda: odeint(field, x0, t, cls(dt=0.01), gradient=gradient))

    assert bytes_of(None) > 200 * 16 * 16 * 8  # the activations of 200 steps are held

    plain = bytes_of(None)
    assert bytes_of(Checkpointed(every=20)) < plain / 10
    assert bytes_of(SymplecticAdjoint()) < plain / 10


def _peak_saved_bytes(fn) -> int:
    """Peak over ``fn`` (forward and backward) of the bytes of live saved tensors, one count
    per storage, the parameters' storages left out."""
    live, peak, refs = 0, 0, {}

    def release(key, nbytes):
        nonlocal live
        refs[key] -= 1
        if not refs[key]:
            del refs[key]
            live -= nbytes

    def pack(t):
        nonlocal live, peak
        st = t.untyped_storage()
        key = st.data_ptr()
        if key not in skip:
            if key not in refs:
                refs[key] = 0
                live += st.nbytes()
                peak = max(peak, live)
            refs[key] += 1
            weakref.finalize(t, release, key, st.nbytes())
        return t

    field = _mlp_hnn(2).double()
    skip = {p.untyped_storage().data_ptr() for p in field.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(field)
    return peak


def test_symplectic_adjoint_holds_one_field_evaluation_not_one_step():
    """Stage by stage, RK4's backward holds one field evaluation's graph; step by step
    (Checkpointed(every=1)) it holds the step's four."""
    x0 = torch.randn(64, 2, dtype=F64, generator=torch.Generator().manual_seed(0))

    def train(gradient):
        def run(field):
            ys = odeint(field, x0, [0.0, 0.5], RK4(dt=0.05), gradient=gradient)
            torch.autograd.grad(ys.pow(2).sum(), list(field.parameters()))

        return _peak_saved_bytes(run)

    stagewise, stepwise = train(SymplecticAdjoint()), train(Checkpointed(every=1))
    assert stagewise < 0.5 * stepwise, (stagewise, stepwise)
