import pytest
import torch
from helpers import NonSeparable, random_hnn
from torch import nn

from hamnets.hnn import (
    EnergyMLP,
    HamiltonianNN,
    MLPField,
    SeparableHamiltonianNN,
)

F64 = torch.float64


class SpringEnergy(nn.Module):
    in_features = 2

    def forward(self, x):
        return x[:, 0] ** 2 + x[:, 1] ** 2


def test_sign_spring_exact_h_gives_2p_minus_2q():
    hnn = HamiltonianNN(SpringEnergy())
    x = torch.tensor([[0.5, -1.5], [2.0, 3.0]])
    expected = torch.stack([2 * x[:, 1], -2 * x[:, 0]], dim=1)  # (dq/dt, dp/dt) = (2p, -2q)
    torch.testing.assert_close(hnn(x), expected)


def test_sign_non_separable_h():
    """(dH/dp, +dH/dq), the sign of DiffEqFlux's Boltz layer, fails this test."""
    truth = NonSeparable().double()
    hnn = HamiltonianNN(_Wrap(truth), dim=2).double()
    x = torch.tensor([[0.7, -1.2], [-0.3, 0.4]], dtype=F64)
    torch.testing.assert_close(hnn(x), truth.exact_field(x))
    q, p = x[:, 0], x[:, 1]
    wrong = torch.stack([p + 0.5 * q**2 * p, q + 0.5 * q * p**2], dim=1)
    assert (hnn(x) - wrong).abs().max().item() > 0.5


class _Wrap(nn.Module):
    def __init__(self, field):
        super().__init__()
        self.field = field

    def forward(self, x):
        return self.field.hamiltonian(x)


@pytest.mark.parametrize("dim", [2, 4, 8])
def test_energy_conservation_and_zero_divergence(dim):
    hnn = random_hnn(dim=dim, seed=dim)
    x = torch.randn(5, dim, generator=torch.Generator().manual_seed(1), dtype=F64)
    x.requires_grad_(True)
    f = hnn(x)  # (5, dim)
    (grad_h,) = torch.autograd.grad(hnn.hamiltonian(x).sum(), x, create_graph=True)
    assert (grad_h * f).sum(-1).abs().max().item() < 1e-14  # dH/dt = grad H . J grad H = 0
    div = sum(torch.autograd.grad(f[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(dim))
    assert div.abs().max().item() < 1e-13  # tr(J Hess H) = 0


@pytest.mark.parametrize(
    ("hidden", "seed", "x_seed"),
    [((5,), 0, 2), ((5, 4), 7, 8)],  # one layer; two of unequal widths (the fused field's paths)
)
def test_gradcheck_and_gradgradcheck_inputs_and_parameters(hidden, seed, x_seed):
    hnn = random_hnn(dim=2, hidden=hidden, seed=seed)
    x = torch.randn(3, 2, generator=torch.Generator().manual_seed(x_seed), dtype=F64)
    x.requires_grad_(True)
    assert torch.autograd.gradcheck(hnn, (x,))
    assert torch.autograd.gradgradcheck(hnn, (x,))
    names = [n for n, _ in hnn.named_parameters()]
    params = tuple(p.detach().clone().requires_grad_(True) for p in hnn.parameters())

    def of_params(*ps):
        return torch.func.functional_call(hnn, dict(zip(names, ps, strict=True)), (x.detach(),))

    assert torch.autograd.gradcheck(of_params, params)
    assert torch.autograd.gradgradcheck(of_params, params)


def test_graph_only_when_recording():
    hnn = random_hnn(dim=2)
    x = torch.randn(4, 2, dtype=F64)
    with torch.no_grad():
        f = hnn(x)
    assert not f.requires_grad and f.grad_fn is None
    f_train = hnn(x)
    assert f_train.requires_grad  # a loss on the field reaches the energy's parameters
    loss = f_train.pow(2).sum()
    loss.backward()
    # every parameter reaches the field (DistributedDataParallel needs that): the energy has no
    # output bias, which would only shift H by a constant
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in hnn.parameters())
    torch.testing.assert_close(f, f_train.detach())


@pytest.mark.parametrize("closed_form", [True, False])
def test_every_energy_parameter_gets_a_gradient(closed_form):
    """Both gradient paths (closed form and autograd.grad), and the separable model's T and V."""
    g = torch.Generator().manual_seed(6)
    act = nn.Tanh if closed_form else nn.Softplus
    models = [
        HamiltonianNN(EnergyMLP(4, (8, 8), activation=act, generator=g)),
        SeparableHamiltonianNN(EnergyMLP(2, (8,), generator=g), EnergyMLP(2, (8,), generator=g)),
    ]
    x = torch.randn(5, 4, generator=g)
    for model in models:
        model(x).pow(2).sum().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    energy = models[0].energy
    assert energy.net[-1].bias is None and energy.net[0].bias is not None


def test_separable_matches_general_hnn():
    g = torch.Generator().manual_seed(3)
    kin, pot = EnergyMLP(2, (8,), generator=g), EnergyMLP(2, (8,), generator=g)
    sep = SeparableHamiltonianNN(kin, pot).double()

    class Sum(nn.Module):
        def forward(self, x):
            return kin(x[:, 2:]) + pot(x[:, :2])

    full = HamiltonianNN(Sum(), dim=4).double()
    x = torch.randn(6, 4, generator=g, dtype=F64)
    torch.testing.assert_close(sep(x), full(x))
    torch.testing.assert_close(sep.hamiltonian(x), full.hamiltonian(x))
    assert sep.separable and not full.separable
    torch.testing.assert_close(sep.dh_dq(x[:, :2]), -sep(x)[:, 2:])


def test_baseline_shapes_and_energy_mlp():
    g = torch.Generator().manual_seed(0)
    assert MLPField(4, (16,), generator=g)(torch.zeros(7, 4)).shape == (7, 4)
    assert EnergyMLP(6, generator=g)(torch.zeros(3, 6)).shape == (3,)
    h = HamiltonianNN(EnergyMLP(6, (32, 32), activation=nn.Softplus, generator=g))
    assert h(torch.zeros(3, 6)).shape == (3, 6) and h.dim == 6
    a = EnergyMLP(2, generator=torch.Generator().manual_seed(5))
    b = EnergyMLP(2, generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def test_bad_input_raises():
    hnn = random_hnn(dim=4)
    with pytest.raises(ValueError, match=r"states of shape \(batch, 4\), got \(4,\)"):
        hnn(torch.zeros(4, dtype=F64))
    with pytest.raises(ValueError, match="even dimension"):
        HamiltonianNN(EnergyMLP(3))
    with pytest.raises(ValueError, match="pass dim"):
        HamiltonianNN(nn.Identity())
    with pytest.raises(ValueError, match="one scalar per sample"):
        HamiltonianNN(nn.Linear(2, 2), dim=2)(torch.zeros(5, 2))
    with pytest.raises(ValueError, match="hidden"):
        EnergyMLP(2, hidden=())


def test_tutorial_cli_end_to_end(tmp_path):
    """The DiffEqFlux tutorial, reduced: fit (x, dx/dt) pairs in batches of 256 with Adam,
    integrate from the first point with Tsit5 at the 1024 times, write every output."""
    import json

    from hamnets.cli import main

    out = tmp_path / "tut"
    argv = ["hnn", "--system", "tutorial", "--steps", "300", "--lr", "0.01", "--hidden", "32,32"]
    assert main([*argv, "--out", str(out), "--quiet"]) == 0
    for name in ("config.json", "metrics.json", "history.csv", "checkpoint.pt", "phase.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    config = json.loads((out / "config.json").read_text())
    assert config["batch_size"] == 256 and config["system"] == "tutorial"
    # untrained fields give derivative MSE ~ 20 (|dx/dt| = 2 pi) and state MSE ~ 1
    assert metrics["train_derivative_mse"] < 0.05
    assert metrics["state_mse"] < 0.01
    assert metrics["wall_seconds"] > 0 and metrics["cpu_seconds"] > 0


def test_cli_rejects_bad_input(capsys):
    from hamnets.cli import main

    for argv, message in (
        (["hnn", "--system", "moon"], "--system 'moon' is not known"),
        (["hnn", "--solver", "leapfrog"], "separable Hamiltonians only"),
        (["hnn", "--steps", "0"], "--steps: expected an integer >= 1, got 0"),
    ):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err


def test_closed_form_gradient_agrees_with_autograd():
    """Two gradient paths: EnergyMLP.input_gradient against torch.autograd.grad, for the field
    and for the parameter gradient of a loss on the field."""
    from hamnets.hnn import HamiltonianField

    hnn = random_hnn(dim=4, hidden=(16, 8))
    assert hnn.energy.has_closed_form_gradient
    x = torch.randn(6, 4, generator=torch.Generator().manual_seed(4), dtype=F64)
    fast = hnn.grad_h(x)
    slow = HamiltonianField.grad_h(hnn, x)
    torch.testing.assert_close(fast, slow, rtol=1e-12, atol=1e-14)
    g_fast = torch.autograd.grad(hnn(x).pow(2).sum(), list(hnn.parameters()))
    slow_field = slow @ hnn.J.T
    g_slow = torch.autograd.grad(slow_field.pow(2).sum(), list(hnn.parameters()))
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    soft = HamiltonianNN(EnergyMLP(2, (4,), activation=nn.Softplus))
    assert not soft.energy.has_closed_form_gradient and soft(torch.zeros(1, 2)).shape == (1, 2)


def test_ctrl_c_finishes_the_step_saves_then_raises():
    import os
    import signal

    from hamnets.training import HNNConfig, Interrupted, fit_derivatives

    class Stops(nn.Module):
        calls = 0

        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            Stops.calls += 1
            if Stops.calls == 4:  # a real Ctrl-C in the middle of step 4
                os.kill(os.getpid(), signal.SIGINT)
            return self.lin(x)

    saved = []
    x = torch.randn(8, 2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(Interrupted, match="after step 4 of model"):
        fit_derivatives(
            Stops(), x, x, HNNConfig(steps=10), torch.Generator(), on_interrupt=saved.append
        )
    assert saved == [4] and Stops.calls == 4


def test_cli_separable_leapfrog_run(tmp_path):
    import json

    from hamnets.cli import main

    out = tmp_path / "sep"
    argv = ["hnn", "--system", "spring", "--model", "separable", "--solver", "leapfrog"]
    argv += ["--dt", "0.05", "--steps", "20", "--hidden", "8", "--eval-points", "21"]
    assert main([*argv, "--no-baseline", "--quiet", "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"state_mse", "energy_mse", "energy_drift", "ood"} <= set(metrics)
    assert metrics["energy_drift"] >= 0 and (out / "energy.png").is_file()


def test_separable_leapfrog_run(tmp_path):
    """The same run as test_cli_separable_leapfrog_run, through the library."""
    from hamnets.training import HNNConfig, RunOptions, run_hnn

    out = tmp_path / "sep"
    config = HNNConfig(system="spring", model="separable", solver="leapfrog", dt=0.05, steps=20,
                       hidden=(8,), eval_points=21, compare_baseline=False)  # fmt: skip
    metrics = run_hnn(config, RunOptions(out=str(out))).metrics
    assert {"state_mse", "energy_mse", "energy_drift", "ood"} <= set(metrics)
    assert metrics["energy_drift"] >= 0 and (out / "energy.png").is_file()


def _plain_field(hnn, x):
    """J grad H by plain autograd on the energy (create_graph: differentiable in the weights)."""
    from hamnets.hnn import HamiltonianField

    return HamiltonianField.grad_h(hnn, x) @ hnn.J.T


@pytest.mark.parametrize(
    ("dim", "hidden", "batch"),
    [(2, (7,), 5), (2, (16, 9), 11), (4, (12, 12), 6), (8, (6, 10, 5), 9), (2, (200, 200), 37)],
)
def test_fused_field_and_gradients_match_plain_autograd(dim, hidden, batch):
    """The hand-written backward of the closed-form field against autograd's double backward
    (float64, 1e-10): the field, and the gradients of a loss on it with respect to every
    weight and bias, the output weight and the states."""
    hnn = random_hnn(dim=dim, hidden=hidden, seed=len(hidden))
    g = torch.Generator().manual_seed(dim)
    x = torch.randn(batch, dim, generator=g, dtype=F64, requires_grad=True)
    target = torch.randn(batch, dim, generator=g, dtype=F64)
    fast, slow = hnn(x), _plain_field(hnn, x)
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    assert "TanhMLPInputGradient" in type(hnn.grad_h(x).grad_fn).__name__  # the fused node
    inputs = [x, *list(hnn.parameters())[: 2 * len(hidden) + 1]]  # all but the output bias
    g_fast = torch.autograd.grad((fast - target).pow(2).sum(), inputs)
    g_slow = torch.autograd.grad((slow - target).pow(2).sum(), inputs)
    for a, b in zip(g_fast, g_slow, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_fused_field_retained_graph_no_grad_and_torch_func():
    """The backward leaves its saved tensors intact (a second backward gives the same
    gradients); the no-grad path and torch.func transforms give the same field."""
    hnn = random_hnn(dim=4, hidden=(8, 6), seed=9)
    x = torch.randn(5, 4, generator=torch.Generator().manual_seed(10), dtype=F64)
    loss = hnn(x).pow(3).sum()
    first = torch.autograd.grad(loss, list(hnn.parameters())[:-1], retain_graph=True)
    second = torch.autograd.grad(loss, list(hnn.parameters())[:-1])
    for a, b in zip(first, second, strict=True):
        assert torch.equal(a, b)
    with torch.no_grad():
        torch.testing.assert_close(hnn(x), _plain_field(hnn, x), rtol=1e-12, atol=1e-14)
    jac = torch.func.jacrev(lambda z: hnn(z).sum(0))(x)  # (4, 5, 4)
    jac_slow = torch.func.jacrev(lambda z: _plain_field(hnn, z).sum(0))(x)
    torch.testing.assert_close(jac, jac_slow, rtol=1e-12, atol=1e-14)
    single = torch.func.vmap(hnn)(x[:, None])[:, 0]
    torch.testing.assert_close(single, hnn(x).detach(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kind", ["even", "time_reversal"])
def test_symmetric_energy_is_exactly_invariant(kind):
    from hamnets.hnn import SymmetricEnergy

    g = torch.Generator().manual_seed(11)
    hnn = HamiltonianNN(getattr(SymmetricEnergy, kind)(EnergyMLP(4, (16, 16), generator=g)))
    hnn, energy = hnn.double(), hnn.energy
    x = torch.randn(6, 4, generator=g, dtype=F64)
    s = torch.tensor([-1.0] * 4 if kind == "even" else [1.0, 1.0, -1.0, -1.0], dtype=F64)
    torch.testing.assert_close(energy(x * s), energy(x), rtol=0, atol=1e-15)
    # grad H(Sx) = S grad H(x), so the field is f(Sx) = J S grad H(x)
    torch.testing.assert_close(hnn.grad_h(x * s), hnn.grad_h(x) * s, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(hnn(x), _plain_field(hnn, x), rtol=1e-12, atol=1e-14)
    xr = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(hnn, (xr,))


def test_symmetric_energy_rejects_bad_signs_and_baseline():
    from hamnets.hnn import SymmetricEnergy
    from hamnets.training import HNNConfig

    with pytest.raises(ValueError, match="at least one -1"):
        SymmetricEnergy(EnergyMLP(2), [1, 1])
    with pytest.raises(ValueError, match="2 inputs but 3 signs"):
        SymmetricEnergy(EnergyMLP(2), [-1, -1, -1])
    with pytest.raises(ValueError, match="even dimension"):
        SymmetricEnergy.time_reversal(EnergyMLP(3))
    with pytest.raises(ValueError, match="--symmetry even constrains a learned energy"):
        HNNConfig(model="baseline", symmetry="even")
    with pytest.raises(ValueError, match="--symmetry 'odd' is not known"):
        HNNConfig(symmetry="odd")


def test_cli_symmetry_builds_symmetric_models(tmp_path):
    import json

    from hamnets.cli import main

    for model in ("hnn", "separable"):
        out = tmp_path / model
        argv = ["hnn", "--system", "spring", "--model", model, "--symmetry", "even"]
        argv += ["--steps", "5", "--hidden", "8", "--eval-points", "11", "--no-baseline"]
        assert main([*argv, "--quiet", "--no-plots", "--out", str(out)]) == 0
        assert json.loads((out / "config.json").read_text())["symmetry"] == "even"
        state = torch.load(out / "checkpoint.pt", weights_only=True)["task"]["model"]
        assert any(k.endswith("signs") for k in state)


def _shift_by_turns(x, angles, g):
    """``x`` with each of its first ``angles`` coordinates moved by ``2 pi k``, ``k`` in
    ``-3..3`` (not all zero)."""
    k = torch.randint(-3, 4, (x.shape[0], angles), generator=g).to(x.dtype)
    k[k.abs().sum(1) == 0, 0] = 1.0
    shift = torch.zeros_like(x)
    shift[:, :angles] = 2 * torch.pi * k
    return x + shift


@pytest.mark.parametrize("name", ["hnn", "separable"])
@pytest.mark.parametrize("dim", [2, 4])
def test_periodic_energy_is_2pi_periodic_in_every_position(name, dim):
    from hamnets.hnn import PeriodicEnergy, build_hnn

    g = torch.Generator().manual_seed(12)
    model = build_hnn(name, dim, (16, 16), symmetry="periodic", generator=g).double()
    x = 3 * torch.randn(8, dim, generator=g, dtype=F64)
    shifted = _shift_by_turns(x, dim // 2, g)
    # equal to rounding: cos and sin of q + 2 pi k, |q + 2 pi k| < 30, differ by a few ulps
    torch.testing.assert_close(model.hamiltonian(shifted), model.hamiltonian(x), rtol=0, atol=1e-13)
    torch.testing.assert_close(model(shifted), model(x), rtol=0, atol=1e-12)
    # the energy reads (cos q, sin q, p): H by hand from the network that reads them
    n = dim // 2
    if name == "hnn":
        energy = model.energy
        assert isinstance(energy, PeriodicEnergy) and energy.energy.in_features == dim + n
        q, p = x[:, :n], x[:, n:]
        by_hand = energy.energy(torch.cat([q.cos(), q.sin(), p], 1))
        torch.testing.assert_close(energy(x), by_hand, rtol=0, atol=0)
    else:  # T(p) free, V(q) periodic
        assert isinstance(model.potential_net, PeriodicEnergy)
        assert model.potential_net.energy.in_features == 2 * n
        assert not isinstance(model.kinetic_net, PeriodicEnergy)


def test_a_plain_energy_is_not_periodic():
    """The check above can fail: the same test on an energy of q itself does."""
    g = torch.Generator().manual_seed(12)
    hnn = HamiltonianNN(EnergyMLP(2, (16, 16), generator=g)).double()
    x = 3 * torch.randn(8, 2, generator=g, dtype=F64)
    gap = hnn.hamiltonian(_shift_by_turns(x, 1, g)) - hnn.hamiltonian(x)
    assert float(gap.detach().abs().max()) > 1e-2


def test_periodic_energy_closed_form_gradient_and_gradcheck():
    """The chain rule through (cos q, sin q) with the tanh closed form equals autograd on the
    energy, and the field passes gradcheck and gradgradcheck in states and parameters."""
    from hamnets.hnn import PeriodicEnergy

    g = torch.Generator().manual_seed(13)
    hnn = HamiltonianNN(PeriodicEnergy(EnergyMLP(6, (7, 5), generator=g), 2)).double()
    energy = hnn.energy
    assert energy.has_closed_form_gradient and hnn.dim == 4
    x = 2 * torch.randn(5, 4, generator=g, dtype=F64)
    torch.testing.assert_close(hnn(x), _plain_field(hnn, x), rtol=1e-12, atol=1e-14)
    xr = x.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(hnn, (xr,))
    assert torch.autograd.gradgradcheck(hnn, (xr,))
    weights = dict(hnn.named_parameters())

    def in_params(*ws):
        return torch.func.functional_call(hnn, dict(zip(weights, ws, strict=True)), (x,))

    assert torch.autograd.gradcheck(in_params, tuple(weights.values()))


def test_time_periodic_energy_is_periodic_at_every_time():
    from hamnets.hnn import PeriodicEnergy, TimeEnergyMLP, TimePeriodicEnergy, build_port_model

    g = torch.Generator().manual_seed(14)
    energy = PeriodicEnergy(TimeEnergyMLP(3, (8,), frequencies=4, generator=g), 1).double()
    assert isinstance(energy, TimePeriodicEnergy) and not energy.has_closed_form_gradient
    x = 3 * torch.randn(6, 2, generator=g, dtype=F64)
    t = torch.rand(6, generator=g, dtype=F64)
    shifted = _shift_by_turns(x, 1, g)
    torch.testing.assert_close(energy(t, shifted), energy(t, x), rtol=0, atol=1e-13)
    for separable in (False, True):
        model = build_port_model("port", 2, 1, (8,), time=True, separable=separable,
                                 periodic=True, generator=g).double()  # fmt: skip
        assert model.explicit_time
        h, h_shifted = model.hamiltonian(t, x), model.hamiltonian(t, shifted)
        torch.testing.assert_close(h_shifted, h, rtol=0, atol=1e-13)


def test_periodic_energy_refuses_what_it_cannot_embed():
    from hamnets.hnn import PeriodicEnergy, build_port_model
    from hamnets.training import HNNConfig

    with pytest.raises(ValueError, match="angles must be a positive integer"):
        PeriodicEnergy(EnergyMLP(3), 0)
    with pytest.raises(ValueError, match="in_features >= 2 \\* angles = 4"):
        PeriodicEnergy(EnergyMLP(3), 2)
    with pytest.raises(ValueError, match="expects states \\(batch, 2\\)"):
        PeriodicEnergy(EnergyMLP(3), 1)(torch.zeros(4, 3))
    with pytest.raises(ValueError, match="choose one"):
        build_port_model("port", 2, 1, (8,), periodic=True, quadratic=True)
    with pytest.raises(ValueError, match="--symmetry periodic constrains a learned energy"):
        HNNConfig(model="baseline", symmetry="periodic")


@pytest.mark.long(2)
def test_cli_symmetry_periodic_reads_the_pendulum_angle_through_cos_and_sin(tmp_path, monkeypatch):
    import json

    from hamnets.cli import main
    from hamnets.training.hnn import SYSTEMS

    # a short evaluation through the recipe (the reference rollouts of 15 pendulums over 20
    # time units take 6 s; the flag's wiring is what is checked)
    monkeypatch.setitem(SYSTEMS["pendulum"].defaults, "horizon", 1.0)
    monkeypatch.setitem(SYSTEMS["pendulum"].defaults, "n_eval", 2)

    out = tmp_path / "run"
    argv = ["hnn", "--system", "pendulum", "--model", "hnn", "--symmetry", "periodic"]
    argv += ["--steps", "5", "--hidden", "8", "--eval-points", "11", "--no-baseline"]
    assert main([*argv, "--quiet", "--no-plots", "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["symmetry"] == "periodic"
    state = torch.load(out / "checkpoint.pt", weights_only=True)["task"]["model"]
    assert state["energy.energy.net.0.weight"].shape == (8, 3)  # reads (cos q, sin q, p)
