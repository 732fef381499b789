"""``hamnets hnn`` on the port-Hamiltonian systems: rows of (state, input, time), the
evaluation's metrics against exact answers, the files, resume, and refused combinations."""

from __future__ import annotations

import copy
import functools
import json
import os
import signal
from pathlib import Path

import pytest
import torch

from hamnets.cli import main
from hamnets.datasets import PORT_PROTOCOLS
from hamnets.hnn import EnergyMLP, PortHamiltonianNN, TimeEnergyMLP, build_port_model
from hamnets.integrate import Tsit5
from hamnets.systems import build_port_system
from hamnets.training import HNNConfig, Interrupted, RunDir, RunOptions, run_hnn
from hamnets.training.hnn import SYSTEMS
from hamnets.training.hnn._port import PortPairs, port_data, port_rows
from hamnets.training.hnn._port_evaluate import evaluate_port

F64 = torch.float64
PORTS = [name for name, entry in SYSTEMS.items() if entry.port]

# tiny runs: 10 steps of 8 hidden units, 2 rollouts to T = 1
TINY = dict(hidden=(8,), steps=10, log_every=5, horizon=1.0, n_eval=2, eval_points=6)


@functools.cache
def _seed0_data(name: str):
    """``port_data(name)`` drawn with seed 0, once per test process: the tests below only read
    it (the forced pendulum's reference rollouts take 1.5 s). That the same seed draws the
    same data is checked in test_port_systems.py."""
    return port_data(name, torch.Generator().manual_seed(0), torch.device("cpu"))


def test_the_four_port_systems_are_registered_with_port_models() -> None:
    assert sorted(PORTS) == sorted(PORT_PROTOCOLS)
    for name in PORTS:
        HNNConfig(system=name, model="port")  # valid
        with pytest.raises(ValueError, match="does not apply to the port system"):
            HNNConfig(system=name, model="separable")
        with pytest.raises(ValueError, match="trajectory-steps is not available"):
            HNNConfig(system=name, model="port", trajectory_steps=5)
    with pytest.raises(ValueError, match="--model port needs a port-Hamiltonian system"):
        HNNConfig(system="spring", model="port")


@pytest.mark.long(2)
def test_rows_carry_each_state_its_input_and_time() -> None:
    data = _seed0_data("forced_pendulum")
    d = data.port
    assert d is not None
    n, steps = d.train_states.shape[:2]
    assert data.x.shape == (n * steps, 2 + 1 + 1)
    k = 3 * steps + 7  # trajectory 3, time index 7
    assert torch.equal(data.x[k, :2], d.train_states[3, 7])
    assert torch.equal(data.x[k, 2:3], d.train_inputs[3, 7])
    assert float(data.x[k, 3]) == pytest.approx(float(d.t[7]))
    assert torch.equal(port_rows(d.train_states, d.train_inputs, d.t), data.x)


def test_port_pairs_read_each_row_at_its_own_time() -> None:
    """A time-dependent energy and the (x, u, t) baseline evaluated on rows with one time per
    row equal the same fields called at each row's scalar time."""
    g = torch.Generator().manual_seed(1)
    for model in (
        build_port_model("port", 2, 1, (8,), time=True, generator=g).double(),
        build_port_model("baseline", 2, 1, (8,), generator=g).double(),
    ):
        rows = torch.randn(6, 4, generator=g, dtype=F64)
        pairs = PortPairs(model)(rows)
        one_by_one = torch.cat(
            [model.field(r[3], r[None, :2], r[None, 2:3]) for r in rows]
        )  # fmt: skip
        torch.testing.assert_close(pairs, one_by_one, rtol=1e-12, atol=1e-12)
    energy = TimeEnergyMLP(2, (8,), generator=g).double()
    assert isinstance(PortHamiltonianNN(energy).hnn.energy, TimeEnergyMLP)


@pytest.mark.long(2)
@pytest.mark.parametrize("name", ["damped_spring", "forced_pendulum", "parametric_spring"])
def test_the_exact_system_as_the_model_scores_zero_errors(name: str) -> None:
    """The evaluation run on the true system itself: rollouts equal to the solver's
    tolerance, the learned damping exact, the dissipated energy exact, the balance closed."""
    config = HNNConfig(system=name, model="port", compare_baseline=False, n_eval=3,
                       horizon=4.0, eval_points=41, rtol=1e-9, atol=1e-11)  # fmt: skip
    truth = build_port_system(name)
    data = _seed0_data(name)
    model = PortPairs(copy.deepcopy(truth))
    ev = evaluate_port(config, truth, data, {"model": (model, Tsit5(rtol=1e-9, atol=1e-11))})
    m = ev.metrics
    assert m["state_mse"] < 1e-12
    assert m["energy_balance_residual"] < 1e-7
    if name != "parametric_spring":
        assert m["dissipation_relative_error"] < 1e-6
        assert m["dissipated_energy_relative_error"] < 1e-12
        assert m["learned_damping"] == pytest.approx(m["true_damping"], rel=1e-6)
    else:
        assert "dissipation_relative_error" not in m and m["dissipated_energy"] == 0.0


def test_an_hnn_that_cannot_dissipate_scores_a_relative_error_of_one() -> None:
    config = HNNConfig(system="damped_spring", model="hnn", compare_baseline=False, n_eval=2,
                       horizon=2.0, eval_points=11)  # fmt: skip
    truth = build_port_system("damped_spring")
    data = _seed0_data("damped_spring")
    g = torch.Generator().manual_seed(0)
    model = PortPairs(PortHamiltonianNN(EnergyMLP(2, (8,), generator=g)))
    m = evaluate_port(config, truth, data, {"model": (model, Tsit5())}).metrics
    assert m["dissipation_relative_error"] == 1.0
    assert m["dissipated_energy_relative_error"] == 1.0
    assert m["energy_balance_residual"] < 1e-5


def _run(path: Path, config: HNNConfig | None, *, resume: bool = False, **kwargs):
    options = RunOptions(
        resume=str(path) if resume else None, out=None if resume else str(path), plots=False
    )
    metrics = run_hnn(None if resume else config, options, **kwargs).metrics
    return metrics, RunDir(path).load_checkpoint()["task"]


@pytest.mark.long(4)
def test_ctrl_c_then_resume_of_a_port_run_gives_the_uninterrupted_run(tmp_path, monkeypatch):
    # the three runs draw the same data from the same seed: drawn once (the generator left
    # in the state the draw leaves it in), not three times (1.5-3 s each)
    from hamnets.training.hnn import _port

    real, drawn = _port.port_trajectory_data, {}

    def once(name: str, generator: torch.Generator):
        key = (name, generator.get_state().numpy().tobytes())
        if key not in drawn:
            drawn[key] = (real(name, generator), generator.get_state())
        data, after = drawn[key]
        generator.set_state(after)
        return data

    monkeypatch.setattr(_port, "port_trajectory_data", once)
    config = HNNConfig(system="forced_pendulum", model="port", batch_size=256, **TINY)
    full, full_nets = _run(tmp_path / "full", config)

    def ctrl_c(label: str, done: int) -> None:
        if (label, done) == ("baseline", 4):
            os.kill(os.getpid(), signal.SIGINT)

    with pytest.raises(Interrupted):
        _run(tmp_path / "cut", config, on_step=ctrl_c)
    metrics, nets = _run(tmp_path / "cut", None, resume=True)
    for name in ("model", "baseline"):
        for key, value in full_nets[name].items():
            assert torch.equal(nets[name][key], value), (name, key)
    drop = ("wall_seconds", "cpu_seconds")
    assert {k: v for k, v in metrics.items() if k not in drop} == {
        k: v for k, v in full.items() if k not in drop
    }
    assert (tmp_path / "cut" / "history.csv").read_text() == (
        tmp_path / "full" / "history.csv"
    ).read_text()


@pytest.mark.long(4)
def test_cli_port_run_writes_the_metrics_and_the_energy_balance(tmp_path, capsys, monkeypatch):
    # a short evaluation through the recipe (the recipe mechanism is what is checked; the
    # default 15 rollouts over 20 time units at rtol 1e-8 take 6 s)
    monkeypatch.setitem(SYSTEMS["mass_spring_damper"].defaults, "horizon", 1.0)
    monkeypatch.setitem(SYSTEMS["mass_spring_damper"].defaults, "n_eval", 2)
    out = tmp_path / "run"
    code = main(["hnn", "--system", "mass_spring_damper", "--model", "port", "--steps", "5",
                 "--hidden", "8", "--eval-points", "6", "--out", str(out)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("state_mse", "dissipation_relative_error", "dissipated_energy_relative_error",
                "energy_balance_residual", "learned_damping"):  # fmt: skip
        assert key in metrics
    assert len(metrics["learned_damping"]) == 2  # one per mass
    assert "state_mse" in metrics["baseline"]
    assert (out / "phase.png").stat().st_size > 0
    assert (out / "energy_balance.png").stat().st_size > 0
    assert not (out / "energy.png").exists()
    config = json.loads((out / "config.json").read_text())
    recipe = SYSTEMS["mass_spring_damper"].defaults
    assert config["steps"] == 5 != recipe["steps"]  # a flag given wins over the recipe
    for name, value in recipe.items():
        if name != "steps":
            assert config[name] == (list(value) if isinstance(value, tuple) else value)
    assert "dissipation_relative_error=" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--system", "spring", "--model", "port"], "needs a port-Hamiltonian system"),
        (["--system", "damped_spring", "--model", "separable"], "does not apply"),
        (["--system", "forced_pendulum", "--model", "port", "--symmetry", "even"],
         "--symmetry even does not apply"),
        (["--system", "forced_pendulum", "--model", "port", "--symmetry", "periodic",
          "--energy", "separable_quadratic"], "or --symmetry none"),
        (["--system", "forced_pendulum", "--model", "baseline", "--symmetry", "periodic"],
         "the baseline has none"),
    ],
)  # fmt: skip
def test_cli_refuses_combinations_that_do_not_apply(tmp_path, capsys, flags, message) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["hnn", *flags, "--out", str(tmp_path / "r")])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "r").exists()


def test_the_forced_pendulum_recipe_reads_its_angle_through_cos_and_sin() -> None:
    """The recipe's prior: the port model's energy (and the conservative HNN's) is exactly
    2 pi periodic in q, the MLP baseline beside it is not constrained, and ``--model
    baseline`` alone takes the recipe without the prior."""
    from hamnets.cli._hnn import _fill
    from hamnets.hnn import PeriodicEnergy
    from hamnets.training.hnn._port import build_port_networks

    config = HNNConfig.recipe(system="forced_pendulum", model="port", **TINY)
    assert (config.symmetry, config.energy) == ("periodic", "full")
    assert HNNConfig.recipe(system="forced_pendulum", model="hnn").symmetry == "periodic"
    assert HNNConfig.recipe(system="forced_pendulum", model="baseline").symmetry == "none"
    cli = _fill({"system": "forced_pendulum", "model": "baseline"})  # the command line's merge
    assert "symmetry" not in cli and cli["denoise"] is True  # the rest of the recipe
    assert _fill({"system": "forced_pendulum"})["symmetry"] == "periodic"
    nets = build_port_networks(config, torch.Generator().manual_seed(0))
    model = nets["model"].double()
    assert isinstance(model.model.hnn.energy, PeriodicEnergy)
    assert not any(isinstance(m, PeriodicEnergy) for m in nets["baseline"].modules())
    z = torch.randn(64, 4, generator=torch.Generator().manual_seed(1), dtype=F64)  # q p u t
    turned = z.clone()
    turned[:, 0] += 2 * torch.pi * torch.arange(-2, 2, dtype=F64).repeat(16)  # -2..1 turns
    with torch.no_grad():
        torch.testing.assert_close(model(turned), model(z), rtol=0, atol=1e-12)


def test_separable_energy_is_kinetic_plus_potential_with_or_without_time() -> None:
    from hamnets.hnn import SeparableEnergy, TimeSeparableEnergy

    g = torch.Generator().manual_seed(3)
    kinetic, potential = EnergyMLP(2, (8,), generator=g), EnergyMLP(2, (8,), generator=g)
    x = torch.randn(5, 4, generator=g)
    energy = SeparableEnergy(kinetic, potential)
    torch.testing.assert_close(energy(x), kinetic(x[:, 2:]) + potential(x[:, :2]))
    timed = SeparableEnergy(kinetic, TimeEnergyMLP(2, (8,), generator=g))
    assert isinstance(timed, TimeSeparableEnergy)
    t = torch.rand(5, generator=g)
    torch.testing.assert_close(
        timed(t, x), kinetic(x[:, 2:]) + timed.potential(t, x[:, :2])
    )  # fmt: skip
    with pytest.raises(ValueError, match="same n inputs"):
        SeparableEnergy(EnergyMLP(1, (8,)), EnergyMLP(2, (8,)))


def test_time_features_make_one_energy_per_row_time() -> None:
    """Fourier features of t: a scalar t equals the same t given per row; frequencies=0
    feeds raw t."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(4, 2, generator=g, dtype=F64)
    for k in (16, 0):
        energy = TimeEnergyMLP(2, (8,), frequencies=k, generator=g).double()
        t = torch.tensor(0.7, dtype=F64)
        torch.testing.assert_close(energy(t, x), energy(t.expand(4), x))
        assert energy.net.in_features == 2 + (2 * k if k else 1)
    with pytest.raises(ValueError, match="one per sample"):
        energy(torch.zeros(3), x)


def test_quadratic_energy_adds_a_psd_form_that_learning_can_move() -> None:
    from hamnets.hnn import QuadraticEnergy

    g = torch.Generator().manual_seed(5)
    net = EnergyMLP(2, (8,), generator=g).double()
    energy = QuadraticEnergy(net).double()
    x = torch.randn(6, 2, generator=g, dtype=F64)
    lf = energy.quadratic_factor
    torch.testing.assert_close(energy(x), net(x) + 0.5 * ((x @ lf) ** 2).sum(-1))
    assert bool((energy(x) - net(x) >= 0).all())  # the form is PSD
    energy(x).sum().backward()
    assert float(lf.grad.abs().sum()) > 0  # not stuck at a saddle
    with pytest.raises(ValueError, match="no time-dependent energy"):
        build_port_model("port", 2, 0, (8,), time=True, quadratic=True)
    with pytest.raises(ValueError, match="depends on t"):
        HNNConfig(system="parametric_spring", model="port", energy="quadratic")
