"""FusedAdam: torch's fused Adam's update and state, bit for bit, without torch.optim."""

from __future__ import annotations

import io

import pytest
import torch

from hamnets.training._adam import FusedAdam, adam, fused_adam_supported
from hamnets.training._adam_kernel import kernel

pytestmark = pytest.mark.skipif(
    not fused_adam_supported([torch.zeros(1)]), reason="no fused CPU Adam in this torch"
)


def _params(seed: int, dtype=torch.float32) -> list[torch.Tensor]:
    """A weight matrix, a bias, a row vector and a scalar, leaves requiring grad."""
    g = torch.Generator().manual_seed(seed)
    shapes = [(7, 3), (7,), (1, 7), ()]
    return [torch.randn(s, generator=g, dtype=dtype).requires_grad_(True) for s in shapes]


def _loss(params: list[torch.Tensor], step: int) -> torch.Tensor:
    """A smooth loss whose gradient changes from step to step (and skips the scalar on odd
    steps: a parameter without a gradient is left alone)."""
    w, b, v, c = params
    x = torch.linspace(-1.0, 1.0, 15, dtype=w.dtype).reshape(5, 3) * (1 + 0.1 * step)
    h = torch.tanh(x @ w.T + b)  # (5, 7)
    out = (h @ v.T).pow(2).mean()
    return out + c.pow(2) if step % 2 == 0 else out


def _groups(params: list[torch.Tensor]) -> list[dict]:
    return [{"params": params[:2]}, {"params": params[2:], "lr": 0.05, "weight_decay": 0.0}]


def _train(opt, params: list[torch.Tensor], steps: range) -> None:
    """Steps ``steps`` on the two groups of :func:`_groups`, each group's rate following a
    schedule (written into ``param_groups`` as the hnn stages do)."""
    for step in steps:
        for group, base in zip(opt.param_groups, (0.01, 0.05), strict=True):
            group["lr"] = base / (1 + step)
        opt.zero_grad(set_to_none=True)
        _loss(params, step).backward()
        opt.step()


def _torch_adam(params, fused: bool = True) -> torch.optim.Adam:
    return torch.optim.Adam(_groups(params), lr=0.01, weight_decay=1e-3, fused=fused or None)


def _fused(params) -> FusedAdam:
    return FusedAdam(_groups(params), lr=0.01, weight_decay=1e-3)


def _equal(a: list[torch.Tensor], b: list[torch.Tensor]) -> None:
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x.detach(), y.detach())


def _roundtrip(state: dict) -> dict:
    """Through ``torch.save`` and ``torch.load(weights_only=True)``, as a checkpoint goes."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_the_update_is_torchs_fused_adam_bit_for_bit(dtype):
    """Two groups (their own rate and decay), a schedule, a parameter skipping steps."""
    ours, theirs = _params(0, dtype), _params(0, dtype)
    opt_ours, opt_theirs = _fused(ours), _torch_adam(theirs)
    _train(opt_ours, ours, range(9))
    _train(opt_theirs, theirs, range(9))
    _equal(ours, theirs)
    for p, q in zip(ours, theirs, strict=True):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt_ours.state[p][key], opt_theirs.state[q][key])
    assert float(opt_ours.state[ours[3]]["step"]) == 5  # steps 0, 2, 4, 6, 8 only


def test_the_update_is_adams_formula():
    """One parameter, three steps, against the textbook update written out in float64."""
    p = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt = FusedAdam([p], lr=0.1, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.01)
    theta, m, v = p.detach().clone(), torch.zeros(3, dtype=torch.float64), 0
    for t in range(1, 4):
        opt.zero_grad()
        (p**3).sum().backward()
        opt.step()
        g = 3 * theta**2 + 0.01 * theta
        m, v = 0.8 * m + 0.2 * g, 0.9 * v + 0.1 * g**2
        theta = theta - 0.1 * (m / (1 - 0.8**t)) / ((v / (1 - 0.9**t)).sqrt() + 1e-6)
    torch.testing.assert_close(p.detach(), theta, rtol=1e-14, atol=0)


def test_the_state_dict_is_torchs_key_for_key():
    ours, theirs = _params(1), _params(1)
    opt_ours, opt_theirs = _fused(ours), _torch_adam(theirs)
    _train(opt_ours, ours, range(3))
    _train(opt_theirs, theirs, range(3))
    a, b = opt_ours.state_dict(), opt_theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    assert a["state"].keys() == b["state"].keys() == {0, 1, 2, 3}
    for i, st in b["state"].items():
        assert a["state"][i].keys() == st.keys()
        for key, value in st.items():
            assert a["state"][i][key].dtype == value.dtype
            assert torch.equal(a["state"][i][key], value)


@pytest.mark.parametrize("fused", [True, False], ids=["from_fused", "from_default"])
def test_a_torch_adam_checkpoint_resumes_here_and_ours_resumes_there(fused):
    """Torch's Adam (fused or its default implementation) for 4 steps, saved; this class
    continues from the checkpoint exactly as torch's fused Adam does, and the other way."""
    ref = _params(2)
    opt_ref = _torch_adam(ref, fused=fused)
    _train(opt_ref, ref, range(4))
    saved = _roundtrip(opt_ref.state_dict())
    weights = [p.detach().clone() for p in ref]

    ours = [w.clone().requires_grad_(True) for w in weights]
    opt_ours = _fused(ours)
    opt_ours.load_state_dict(saved)
    theirs = [w.clone().requires_grad_(True) for w in weights]
    opt_theirs = _torch_adam(theirs)
    opt_theirs.load_state_dict(saved)
    _train(opt_ours, ours, range(4, 9))
    _train(opt_theirs, theirs, range(4, 9))
    _equal(ours, theirs)

    back = [p.detach().clone().requires_grad_(True) for p in ours]  # ours -> torch's
    opt_back = _torch_adam(back)
    opt_back.load_state_dict(_roundtrip(opt_ours.state_dict()))
    _train(opt_back, back, range(9, 12))
    _train(opt_ours, ours, range(9, 12))
    _equal(ours, back)


def test_a_loaded_state_is_a_copy_and_a_round_trip_is_exact():
    params = _params(3)
    opt = _fused(params)
    _train(opt, params, range(3))
    saved = _roundtrip(opt.state_dict())
    before = {i: {k: v.clone() for k, v in st.items()} for i, st in saved["state"].items()}
    copies = [p.detach().clone().requires_grad_(True) for p in params]
    other = _fused(copies)
    other.load_state_dict(saved)
    _train(other, copies, range(3, 5))
    for i, st in saved["state"].items():  # the dict handed in is not updated by later steps
        for key, value in st.items():
            assert torch.equal(value, before[i][key])
    again = _fused(params)
    again.load_state_dict(saved)
    assert again.state_dict()["param_groups"] == saved["param_groups"]


def test_groups_that_do_not_match_or_are_not_plain_adam_are_refused():
    params = _params(4)
    opt = _fused(params)
    _train(opt, params, range(2))
    state = opt.state_dict()
    with pytest.raises(ValueError, match="param groups"):
        FusedAdam(params, lr=0.01).load_state_dict(state)
    with pytest.raises(ValueError, match="holds 2 parameters"):
        FusedAdam([{"params": params[:1]}, {"params": params[1:]}]).load_state_dict(state)
    state["param_groups"][1]["amsgrad"] = True
    with pytest.raises(ValueError, match="amsgrad"):
        _fused(params).load_state_dict(state)
    with pytest.raises(ValueError, match="more than one"):
        FusedAdam([{"params": params}, {"params": params[:1]}])
    with pytest.raises(ValueError, match="betas"):
        FusedAdam(params, betas=(0.9, 1.0))


def test_adam_falls_back_to_torch_where_there_is_no_fused_kernel(monkeypatch):
    params = _params(5)
    assert isinstance(adam(_groups(params), lr=0.01, weight_decay=0.0), FusedAdam)
    monkeypatch.delattr(torch, "_fused_adam_")
    opt = adam((p for p in params), lr=0.01, weight_decay=0.0)
    assert type(opt) is torch.optim.Adam and not opt.param_groups[0]["fused"]
    assert opt.param_groups[0]["params"] == params


def test_the_derivative_stage_steps_with_fusedadam_and_a_port_models_two_rates():
    """The hnn stage builds no torch.optim optimiser (whose construction imports
    torch._dynamo); a model with ``param_groups`` gets its two rates."""
    from hamnets.hnn import EnergyMLP, HamiltonianNN
    from hamnets.training.hnn import HNNConfig
    from hamnets.training.hnn._stages import DerivativeRegression

    class TwoRates(HamiltonianNN):
        def param_groups(self, lr: float, structure_lr: float) -> list[dict]:
            first, *rest = self.parameters()
            return [{"params": rest}, {"params": [first], "lr": structure_lr}]

    g = torch.Generator().manual_seed(0)
    x, dxdt = torch.randn(16, 2, generator=g), torch.randn(16, 2, generator=g)
    config = HNNConfig(system="spring", steps=3, lr=1e-3, structure_lr=1e-2)
    for cls in (HamiltonianNN, TwoRates):
        model = cls(EnergyMLP(2, (8, 8), generator=g))
        stage = DerivativeRegression(model, x, dxdt, config, g, label="model")
        assert isinstance(stage.opt, FusedAdam)
        for i in range(3):
            stage.step(i)
        saved = _roundtrip(stage.state_dict())
        assert float(saved["optimizer"]["state"][0]["step"]) == 3
    assert stage.base_lrs == [1e-3, 1e-2]


needs_c = pytest.mark.skipif(
    kernel() is None, reason="no C compiler, or a torch kernel _adam.c does not reproduce"
)


def _random_run(use_c: bool, steps: int = 40) -> tuple[list[torch.Tensor], FusedAdam]:
    """Sizes around torch's 16-lane vectors and 8-wide tail (1 to 40, 200, 1003 elements),
    gradients over twelve decades, two groups (beta1 on both sides of 0.5, decay on and
    off), a schedule; the same draws whatever ``use_c``."""
    g = torch.Generator().manual_seed(7)
    shapes = [(n,) for n in range(1, 41)] + [(200,), (17, 59), (200, 2)]
    params = [torch.randn(s, generator=g).requires_grad_(True) for s in shapes]
    half = len(params) // 2
    other = {"params": params[half:], "betas": (0.3, 0.99), "weight_decay": 0.0}
    opt = FusedAdam([{"params": params[:half]}, other], lr=1e-3, weight_decay=1e-4)
    opt.use_c = use_c
    for step in range(steps):
        for p in params:
            scale = 10.0 ** float(torch.randint(-9, 3, (), generator=g))
            p.grad = torch.randn(p.shape, generator=g) * scale
        for group in opt.param_groups:
            group["lr"] = 1e-3 * (1 + step % 5)
        opt.step()
    return params, opt


@needs_c
@pytest.mark.parametrize("threads", [1, 2])
def test_the_c_update_is_torchs_kernel_bit_for_bit(threads):
    """Parameters, moments and step counters after 40 steps, against torch's kernel on the
    same draws, whatever the number of threads (torch's ranges split differently)."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        ours, opt = _random_run(use_c=True)
        theirs, opt_torch = _random_run(use_c=False)
    finally:
        torch.set_num_threads(before)
    assert len(opt._c_groups) == 2 and not opt_torch._c_groups  # each took its own path
    _equal(ours, theirs)
    for p, q in zip(ours, theirs, strict=True):
        for key in ("step", "exp_avg", "exp_avg_sq"):
            assert torch.equal(opt.state[p][key], opt_torch.state[q][key])


@pytest.mark.slow
@needs_c
def test_the_c_update_is_torchs_avx2_kernel_bit_for_bit():
    """The same against torch's AVX2 kernel (its vectors are 8 wide), in a process that
    asks torch for it."""
    import os
    import subprocess
    import sys

    script = (
        "import torch, test_adam as t\n"
        "assert torch.backends.cpu.get_cpu_capability() == 'AVX2'\n"
        "ours, opt = t._random_run(True)\n"
        "theirs, _ = t._random_run(False)\n"
        "assert opt._c_groups\n"
        "t._equal(ours, theirs)\n"
    )
    env = dict(os.environ, ATEN_CPU_CAPABILITY="avx2", PYTHONPATH=os.path.dirname(__file__))
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=300)


@needs_c
def test_the_c_update_falls_back_and_rebuilds_where_it_must():
    params = _params(6)
    for p in params:
        p.grad = torch.ones_like(p)
    opt = FusedAdam(params, lr=0.01)
    opt.step()
    (group,) = opt._c_groups.values()
    params[0].data = params[0].data.clone()  # another storage: this group is not it any more
    assert not group.step(opt.param_groups[0], opt.state)
    opt.step()
    assert opt._c_groups[0] is not group
    group = opt._c_groups[0]
    opt.state[params[2]]["exp_avg"] = opt.state[params[2]]["exp_avg"].clone()  # replaced
    assert not group.step(opt.param_groups[0], opt.state)  # (not updating the old tensor)
    opt.step()
    assert opt._c_groups[0] is not group
    assert float(opt.state[params[2]]["step"]) == 3
    params[1].grad = None  # a parameter without a gradient: torch's kernel, the others move
    opt.step()
    assert float(opt.state[params[1]]["step"]) == 3 and float(opt.state[params[0]]["step"]) == 4
    opt.load_state_dict(opt.state_dict())
    assert not opt._c_groups  # (the state is new tensors)
    wide = [p.detach().double().requires_grad_(True) for p in _params(6)]
    for p in wide:
        p.grad = torch.ones_like(p)
    opt64 = FusedAdam(wide, lr=0.01)
    opt64.step()
    assert not opt64._c_groups  # float64: torch's kernel
