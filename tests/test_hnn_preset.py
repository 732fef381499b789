"""``hamnets hnn --preset diffeqflux`` and the options it needs: ``--activation`` (the energy
network's), ``--[no-]shuffle`` (in-order mini-batches), and configurations written before
them."""

from __future__ import annotations

import json
import os
import signal

import pytest
import torch
from torch import nn

from hamnets.cli import main
from hamnets.hnn import ACTIVATIONS, build_hnn
from hamnets.training import HNNConfig
from hamnets.training.hnn import PRESETS, DerivativeRegression

#: the DiffEqFlux tutorial as written, field by field: Dense(2 -> 1028, relu) -> Dense(1028
#: -> 1), Adam(0.01) without weight decay at a constant rate, 500 epochs of the DataLoader's
#: 4 in-order batches of 256 pairs, and a Tsit5 solve with its default tolerances.
TUTORIAL = {
    "system": "tutorial",
    "model": "hnn",
    "hidden": [1028],
    "activation": "relu",
    "lr": 0.01,
    "weight_decay": 0.0,
    "final_lr_fraction": 1.0,
    "steps": 500 * 4,
    "batch_size": 256,
    "shuffle": False,
    "solver": "tsit5",
    "rtol": 1e-3,
    "atol": 1e-6,
    "preset": "diffeqflux",
}


def _checked(argv: list[str], capsys) -> dict:
    """The configuration ``hamnets hnn ARGV --check`` would run."""
    assert main(["hnn", *argv, "--check"]) == 0
    out = capsys.readouterr().out
    return json.loads(out[: out.rindex("}") + 1])


def test_preset_sets_exactly_the_tutorials_values(tmp_path, capsys) -> None:
    config = _checked(["--preset", "diffeqflux", "--out", str(tmp_path / "a")], capsys)
    defaults = HNNConfig(system="tutorial").to_dict()
    for key, value in config.items():  # the tutorial's values, every other field the default
        assert value == TUTORIAL.get(key, defaults[key]), key
    assert set(PRESETS["diffeqflux"]) | {"preset"} == set(TUTORIAL)


def test_a_flag_given_overrides_the_preset(tmp_path, capsys) -> None:
    argv = ["--preset", "diffeqflux", "--lr", "1e-3", "--hidden", "64,64", "--shuffle"]
    config = _checked([*argv, "--out", str(tmp_path / "a")], capsys)
    assert (config["lr"], config["hidden"], config["shuffle"]) == (1e-3, [64, 64], True)
    assert (config["activation"], config["steps"], config["weight_decay"]) == ("relu", 2000, 0)
    with pytest.raises(SystemExit) as exc:
        main(["hnn", "--preset", "julia", "--check", "--out", str(tmp_path / "b")])
    assert exc.value.code == 2
    assert "--preset 'julia' is not known; choose one of none, diffeqflux" in (
        capsys.readouterr().err
    )


def test_preset_run_records_its_values_and_resumes(tmp_path, monkeypatch, capsys) -> None:
    """A (narrowed) preset run cut by Ctrl-C mid-pass resumes to exactly the uninterrupted
    run: the in-order batch position is part of the checkpoint."""
    argv = ["hnn", "--preset", "diffeqflux", "--hidden", "16", "--steps", "6", "--quiet"]
    argv += ["--no-plots"]  # the metrics are compared; pictures are not what is checked
    assert main([*argv, "--out", str(tmp_path / "full")]) == 0
    config = json.loads((tmp_path / "full" / "config.json").read_text())
    assert {k: config[k] for k in TUTORIAL} == {**TUTORIAL, "hidden": [16], "steps": 6}

    def ctrl_c(label: str, done: int) -> None:
        if (label, done) == ("model", 3):  # mid-pass: batch 4 of 4 comes next
            os.kill(os.getpid(), signal.SIGINT)

    from hamnets.training import _session

    real = _session.Engine
    with monkeypatch.context() as m:
        m.setattr(_session, "Engine", lambda *a, **k: real(*a, **{**k, "on_step": ctrl_c}))
        assert main([*argv, "--out", str(tmp_path / "cut")]) == 130
    capsys.readouterr()
    resume = ["hnn", "--resume", str(tmp_path / "cut"), "--preset", "diffeqflux", "--no-plots"]
    assert main(resume) == 0
    metrics = [json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("full", "cut")]
    for a in metrics:
        for key in ("wall_seconds", "cpu_seconds"):
            a.pop(key)
    assert metrics[0] == metrics[1]
    with pytest.raises(SystemExit) as exc:  # another preset would be another run
        main(["hnn", "--resume", str(tmp_path / "cut"), "--preset", "none"])
    assert exc.value.code == 2
    assert "--preset diffeqflux (given: none)" in capsys.readouterr().err


class _Recorder(nn.Module):
    """A field that records the states it is called on."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.seen: list[torch.Tensor] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.detach().clone())
        return x * self.w


@pytest.mark.parametrize("shuffle", [False, True])
def test_batches_in_order_or_shuffled(shuffle: bool) -> None:
    x = torch.arange(20.0).reshape(10, 2)  # (10, 2): 2 whole batches of 4, 2 pairs left
    config = HNNConfig(system="tutorial", batch_size=4, steps=5, shuffle=shuffle)
    g = torch.Generator().manual_seed(0)
    before = g.get_state()
    net = _Recorder()
    stage = DerivativeRegression(net, x, x, config, g, label="hnn")
    for i in range(5):
        stage.step(i)
    rows = [(b[:, 0] / 2).long().tolist() for b in net.seen]
    if shuffle:  # a fresh permutation per pass, drawn from the generator
        same = torch.Generator().manual_seed(0)
        first, second = (torch.randperm(10, generator=same).tolist() for _ in range(2))
        assert rows == [first[:4], first[4:8], second[:4], second[4:8], rows[4]]
    else:  # the DataLoader's order, every pass; the generator draws nothing
        assert torch.equal(g.get_state(), before)
        assert rows == [[0, 1, 2, 3], [4, 5, 6, 7]] * 2 + [[0, 1, 2, 3]]


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_builds_that_energy(name: str) -> None:
    torch.manual_seed(0)
    net = build_hnn("hnn", 2, (8, 8), activation=name, generator=torch.Generator())
    acts = [m for m in net.energy.net if not isinstance(m, nn.Linear)]
    assert len(acts) == 2 and all(type(m) is ACTIVATIONS[name] for m in acts)
    # the closed-form gradient is tanh's alone; the others are autograd's, and agree with it
    assert net.energy.has_closed_form_gradient == (name == "tanh")
    x = torch.randn(16, 2, dtype=torch.float64, requires_grad=True)
    net = net.double()
    h = net.energy(x).sum()
    (grad,) = torch.autograd.grad(h, x)
    assert torch.allclose(net(x), torch.stack([grad[:, 1], -grad[:, 0]], 1), atol=1e-12)


def test_relu_field_is_piecewise_constant() -> None:
    """The field of a relu energy is a sum of steps: its Jacobian is zero wherever defined
    (the reason the tutorial's adaptive rollout struggles, docs/tutorial.md)."""
    net = build_hnn("hnn", 2, (32,), activation="relu", generator=torch.Generator()).double()
    with torch.no_grad():  # move the kinks off the origin
        net.energy.net[0].bias.normal_(generator=torch.Generator().manual_seed(1))
    x = torch.randn(8, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    jac = torch.autograd.functional.jacobian(lambda s: net(s[None])[0], x[0])
    assert torch.equal(jac, torch.zeros(2, 2, dtype=torch.float64))
    tanh = build_hnn("hnn", 2, (32,), generator=torch.Generator()).double()
    assert torch.autograd.functional.jacobian(lambda s: tanh(s[None])[0], x[0]).abs().max() > 0


def test_config_written_before_the_new_fields_loads() -> None:
    """A format-2 config.json from before ``activation``, ``shuffle`` and ``preset`` reads
    as the run it was: tanh, shuffled batches, no preset."""
    old = HNNConfig(system="tutorial", batch_size=256).to_dict()
    for key in ("activation", "shuffle", "preset"):
        del old[key]
    assert old["format"] == 2
    config = HNNConfig.from_dict(json.loads(json.dumps(old)))
    assert config == HNNConfig(system="tutorial", batch_size=256)
    assert (config.activation, config.shuffle, config.preset) == ("tanh", True, "none")
