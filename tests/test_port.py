"""Port-Hamiltonian networks: R positive semi-definite, the energy balance along rollouts,
the exact reduction to the HNN, gradchecks in float64."""

import pytest
import torch
from port_helpers import energy_balance_residual
from torch import nn

from hamnets.controls import CubicInterpolation, random_sinusoids
from hamnets.hnn import (
    MLP,
    ConstantDissipation,
    ConstantInputMatrix,
    EnergyMLP,
    FixedDissipation,
    FixedInputMatrix,
    HamiltonianNN,
    InputMLPField,
    MomentumDamping,
    MomentumInput,
    NetworkDissipation,
    NetworkInputMatrix,
    PortHamiltonianNN,
    build_port_model,
)
from hamnets.integrate import RK4, SymplecticAdjoint, Tsit5, odeint

F64 = torch.float64


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def _dissipations(dim, seed):
    g = _gen(seed)
    return [
        NetworkDissipation(dim, (8,), generator=g),
        NetworkDissipation(dim, (8,), rank=1, generator=g),
        ConstantDissipation(dim, scale=1.0, generator=g),
        MomentumDamping(dim // 2, generator=g),
        MomentumDamping(dim // 2, (8,), rank=1, generator=g),
    ]


class TimeEnergy(nn.Module):
    """``H(t, x)`` from an MLP of ``(x, t)``."""

    def __init__(self, dim, generator):
        super().__init__()
        self.net = MLP(dim + 1, (8,), 1, generator=generator)

    def forward(self, t, x):
        return self.net(torch.cat([x, t.expand(len(x), 1)], dim=1)).squeeze(-1)


def _port(dim=4, m=2, seed=0, hidden=(16,), time_dependent=False):
    g = _gen(seed)
    energy = TimeEnergy(dim, g) if time_dependent else EnergyMLP(dim, hidden, generator=g)
    return PortHamiltonianNN(
        energy,
        NetworkDissipation(dim, (8,), generator=g),
        NetworkInputMatrix(dim, m, (8,), generator=g),
        dim=dim,
    ).double()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_dissipation_is_symmetric_positive_semidefinite_for_random_parameters(seed):
    x = torch.randn(16, 4, generator=_gen(100 + seed), dtype=F64) * 3
    v = torch.randn(16, 4, generator=_gen(200 + seed), dtype=F64)
    for diss in _dissipations(4, seed):
        port = PortHamiltonianNN(EnergyMLP(4, (8,)), diss).double()
        r = port.dissipation_matrix(x)  # (16, 4, 4)
        torch.testing.assert_close(r, r.transpose(1, 2), rtol=0, atol=1e-15)
        assert torch.linalg.eigvalsh(r).min() >= -1e-12, type(diss).__name__
        torch.testing.assert_close(port.dissipate(x, v), (r @ v[:, :, None])[..., 0])
        if isinstance(diss, MomentumDamping):  # no friction on dq/dt
            assert r[:, :2].abs().max() == 0 and r[:, :, :2].abs().max() == 0


def test_fixed_dissipation_checks_its_matrix():
    r = torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=F64)
    fixed = FixedDissipation(r).double()
    x = torch.zeros(3, 2, dtype=F64)
    torch.testing.assert_close(fixed(x)[0] @ fixed(x)[0].T, r, rtol=0, atol=1e-14)
    with pytest.raises(ValueError, match="positive semi-definite"):
        FixedDissipation(torch.tensor([[1.0, 0.0], [0.0, -0.5]]))
    with pytest.raises(ValueError, match="symmetric"):
        FixedDissipation(torch.tensor([[1.0, 0.3], [0.0, 1.0]]))


@pytest.mark.parametrize("time_dependent", [False, True])
def test_no_dissipation_no_inputs_is_exactly_the_hnn(time_dependent):
    g = _gen(5)
    energy = (TimeEnergy(4, g) if time_dependent else EnergyMLP(4, (16,), generator=g)).double()
    hnn, port = HamiltonianNN(energy, 4), PortHamiltonianNN(energy, dim=4)
    x = torch.randn(8, 4, generator=g, dtype=F64)
    t = torch.tensor(0.7, dtype=F64)
    want = hnn(t, x) if time_dependent else hnn(x)
    assert torch.equal(port(t, x), want)
    with torch.no_grad():
        assert torch.equal(port(t, x), hnn(t, x) if time_dependent else hnn(x))
    assert port.explicit_time is time_dependent
    # the registry's conservative baseline accepts inputs and ignores them, bit for bit
    base = build_port_model("hnn", 4, 2, (16,), generator=_gen(5)).double()
    driven = base.with_input(random_sinusoids(8, _gen(6), inputs=2))
    assert torch.equal(driven(t, x), HamiltonianNN(base.hnn.energy)(x))


@pytest.mark.parametrize("seed, time_dependent", [(0, False), (1, False), (2, True)])
def test_energy_balance_holds_along_rollouts_of_random_port_models(seed, time_dependent):
    """dH/dt = partial_t H - grad H^T R grad H + y^T u, integrated beside the state."""
    port = _port(seed=seed, time_dependent=time_dependent)
    signal = random_sinusoids(6, _gen(10 + seed), inputs=2, amplitude=(0.5, 1.0))
    x0 = torch.randn(6, 4, generator=_gen(20 + seed), dtype=F64)
    t = torch.linspace(0, 3, 7, dtype=F64)
    errs = []
    for tol in (1e-6, 1e-9):
        residual, dissipated, supplied = energy_balance_residual(port, signal, x0, t, tol)
        errs.append(residual.abs().max().item())
    assert dissipated[-1].min() > 1e-3 and supplied[-1].abs().max() > 1e-3  # not trivial
    assert (dissipated[1:] - dissipated[:-1]).min() >= 0  # power removed is never negative
    assert errs[1] < 1e-7 and errs[1] < errs[0] / 20, errs


def test_port_field_gradcheck_in_states_inputs_and_parameters():
    port = _port(dim=2, m=1, hidden=(4,))
    params = list(port.parameters())  # gradcheck perturbs its inputs in place: these too
    g = _gen(3)
    x = torch.randn(3, 2, generator=g, dtype=F64, requires_grad=True)
    u = torch.randn(3, 1, generator=g, dtype=F64, requires_grad=True)
    t = torch.tensor(0.4, dtype=F64)

    def field(x, u, *ps):
        return port.field(t, x, u)

    assert torch.autograd.gradcheck(field, (x, u, *params))
    assert torch.autograd.gradgradcheck(lambda x, u: port.field(t, x, u), (x, u))


def test_parts_and_binding():
    port = _port(m=1)
    x = torch.randn(5, 4, generator=_gen(0), dtype=F64)
    t = torch.tensor(0.2, dtype=F64)
    u = torch.randn(5, 1, generator=_gen(1), dtype=F64)
    parts = port.parts(t, x, u)
    gmat = port.input_matrix(x)
    torch.testing.assert_close(parts.y, (gmat.transpose(1, 2) @ parts.grad_h[..., None])[..., 0])
    want = (port.J - port.dissipation_matrix(x)) @ parts.grad_h[..., None] + gmat @ u[..., None]
    torch.testing.assert_close(parts.dxdt, want[..., 0])
    with pytest.raises(ValueError, match="none is bound"):
        port(t, x)
    signal = random_sinusoids(5, _gen(2), inputs=1)
    bound = port.with_input(signal)
    torch.testing.assert_close(bound(t, x), port.field(t, x, signal(t)))
    assert {id(p) for p in bound.parameters()} == {id(p) for p in port.parameters()}
    with pytest.raises(ValueError, match=r"\(5, 1\) or \(1, 1\)"):
        port.field(t, x, torch.zeros(4, 1, dtype=F64))
    with pytest.raises(ValueError, match="dimension 4"):
        PortHamiltonianNN(EnergyMLP(2, (4,)), ConstantDissipation(4))
    with pytest.raises(ValueError, match="2 columns but inputs=1"):
        PortHamiltonianNN(EnergyMLP(2, (4,)), None, ConstantInputMatrix(2, 2), inputs=1)


def test_input_matrices_have_their_shapes_and_structure():
    x = torch.randn(3, 4, dtype=F64)
    mats = [
        ConstantInputMatrix(4, 2),
        MomentumInput(2, 2),
        NetworkInputMatrix(4, 2, (8,), generator=_gen(0)),
        FixedInputMatrix(torch.ones(4, 2)),
    ]
    for mat in mats:
        assert mat.double()(x).shape == (3, 4, 2)
    with torch.no_grad():
        mats[1].matrix.fill_(1.0)
    assert mats[1](x)[:, :2].abs().max() == 0  # forces act on p only


def test_registry_builds_every_model_and_refuses_unknown_names():
    for name in ("port", "hnn", "baseline"):
        model = build_port_model(name, 2, 1, (8,), generator=_gen(0)).double()
        field = model.with_input(random_sinusoids(4, _gen(1)))
        x = torch.randn(4, 2, dtype=F64)
        ys = odeint(field, x, torch.linspace(0, 1, 3, dtype=F64), Tsit5(rtol=1e-5, atol=1e-5))
        assert ys.shape == (3, 4, 2) and torch.isfinite(ys).all()
    with pytest.raises(ValueError, match="unknown dissipation"):
        build_port_model("port", 2, 1, (8,), dissipation="friction")
    with pytest.raises(ValueError, match="unknown model"):
        build_port_model("phnn", 2, 1, (8,))


def test_input_mlp_field_sees_state_input_and_time():
    model = InputMLPField(2, 1, (8,), generator=_gen(0)).double()
    x = torch.randn(4, 2, dtype=F64)
    u = torch.randn(4, 1, dtype=F64)
    t0, t1 = torch.tensor(0.0, dtype=F64), torch.tensor(1.0, dtype=F64)
    assert not torch.equal(model.field(t0, x, u), model.field(t1, x, u))
    assert not torch.equal(model.field(t0, x, u), model.field(t0, x, 2 * u))
    with pytest.raises(ValueError, match="none is bound"):
        model(t0, x)


def test_rollout_gradients_agree_across_strategies_and_reach_the_input_samples():
    port = _port(dim=2, m=1, hidden=(8,))
    knots = torch.linspace(0, 1, 6, dtype=F64)
    samples = torch.randn(3, 6, 1, generator=_gen(0), dtype=F64, requires_grad=True)
    field = port.with_input(CubicInterpolation(knots, samples))
    x0 = torch.randn(3, 2, generator=_gen(1), dtype=F64)
    t = torch.linspace(0, 1, 5, dtype=F64)
    grads = []
    for gradient in (None, SymplecticAdjoint()):
        params = [*port.parameters(), samples]
        ys = odeint(field, x0, t, RK4(dt=0.05), gradient=gradient, params=params)
        grads.append(torch.autograd.grad(ys.pow(2).sum(), params))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert grads[0][-1].abs().min() > 0  # every input sample moves the rollout
