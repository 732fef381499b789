"""The fast paths of the HNN and its MLP baseline compute what the plain ones compute.

``hamnets._kernels`` (oneDNN products, numpy's tanh) against float64 and torch; the
energy's input-gradient node and the baseline's forward node against autograd through the
plain operations, in float32 at the spring's sizes (the widths where oneDNN is used) and in
float64 with gradcheck/gradgradcheck. Timing is in benchmarks/hnn_speed.py, not here.
"""

from __future__ import annotations

import copy
import os

import pytest
import torch

from hamnets._kernels import addmm_, cpu_vendor, linear, matmul, tanh_
from hamnets.cli._common import keep_freed_memory
from hamnets.hnn import EnergyMLP, MLPField
from hamnets.hnn._tanh_forward import _tanh_backward_, tanh_mlp
from hamnets.hnn._tanh_gradient import _composite, tanh_mlp_input_gradient

#: the issue's bound: relative norm difference per tensor, float32 against the reference.
TOL = 1e-5


def rel(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm())


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize(
    "m, k, n", [(750, 200, 200), (750, 2, 200), (750, 200, 2), (15, 200, 200), (64, 33, 40)]
)
def test_products_match_float64(m, k, n):
    g = _gen()
    a, b = torch.randn(m, k, generator=g), torch.randn(k, n, generator=g)
    bias = torch.randn(n, generator=g)
    exact = a.double() @ b.double()
    assert rel(matmul(a, b), exact) < TOL
    assert rel(linear(a, b.t(), bias), exact + bias.double()) < TOL
    assert rel(linear(a, b.t().contiguous(), bias), exact + bias.double()) < TOL
    c = torch.randn(m, n, generator=g)
    want = c.double() + exact
    assert rel(addmm_(c, a, b), want) < TOL
    # transposed views (the weight gradients' layout: a contraction over the batch)
    at, bt = a.t().contiguous(), b.t().contiguous()
    assert rel(matmul(at.t(), bt.t()), exact) < TOL


def test_cpu_vendor_reads_the_first_processor_and_tolerates_no_file(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\n\nprocessor\t: 1\n")
    assert cpu_vendor(info) == "GenuineIntel"
    info.write_text("processor\t: 0\nmodel name\t: ARMv8\n\nvendor_id\t: Other\n")
    assert cpu_vendor(info) == ""  # only the first block is read; it names none
    assert cpu_vendor(tmp_path / "missing") == ""


def test_the_two_product_routes_agree_to_rounding():
    """``A B`` with ``B`` contiguous (MKL on Intel, oneDNN elsewhere) against the same
    product with ``B`` a transposed view (oneDNN everywhere), at the spring's sizes."""
    g = _gen(3)
    w, a = torch.randn(200, 200, generator=g), torch.randn(200, 750, generator=g)
    exact = w.double() @ a.double()
    assert rel(matmul(w, a), exact) < TOL
    assert rel(matmul(w, a.t().contiguous().t()), exact) < TOL


def test_products_float64_stay_float64():
    g = _gen()
    a, b = (
        torch.randn(750, 200, generator=g, dtype=torch.float64),
        torch.randn(200, 200, generator=g, dtype=torch.float64),
    )
    out = matmul(a, b)
    assert out.dtype == torch.float64
    assert torch.allclose(out, a @ b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_tanh_is_tanh_to_rounding_small_arguments_included(dtype):
    tiny = torch.logspace(-30, -1, 2000, dtype=torch.float64)
    x = torch.cat([tiny, -tiny, torch.linspace(-12, 12, 20001, dtype=torch.float64)])
    specials = [0.0, 1e-8, -1e-8, 50.0, -50.0, float("inf"), -float("inf")]
    x = torch.cat([x, torch.tensor(specials, dtype=torch.float64)]).to(dtype)
    exact = torch.tanh(x.double())
    got = tanh_(x.clone())
    assert got.dtype == dtype
    # elementwise: a few float32 ulps, relative, everywhere (2 sigmoid(2x) - 1 returns 0 here)
    err = (got.double() - exact).abs() / exact.abs().clamp_min(torch.finfo(torch.float64).tiny)
    err[exact == 0] = got[exact == 0].double().abs()
    eps = torch.finfo(dtype).eps
    assert float(err.max()) <= 4 * eps
    assert got[x == torch.tensor(1e-8, dtype=dtype)].item() != 0.0
    # and in norm, on values as small as the first layer's
    small = 1e-3 * torch.randn(750, 200, generator=_gen(), dtype=torch.float64).to(dtype)
    assert rel(tanh_(small.clone()), torch.tanh(small.double())) < 4 * eps


def test_tanh_leaves_tensors_that_require_grad_to_autograd():
    x = torch.linspace(-2, 2, 11, requires_grad=True)
    y = tanh_(x * 1.0)  # a non-leaf that requires grad: torch's tanh_, recorded
    y.sum().backward()
    assert torch.allclose(x.grad, 1 - torch.tanh(x.detach()) ** 2)


def _reference_field_grads(energy: EnergyMLP, x: torch.Tensor, y: torch.Tensor):
    """g = dH/dx and d loss/d params through torch.autograd (double backward), plain ops."""
    xr = x.clone().requires_grad_()
    h = energy(xr).sum()
    (g,) = torch.autograd.grad(h, xr, create_graph=True)
    loss = (g - y).pow(2).mean()
    grads = torch.autograd.grad(loss, list(energy.parameters()))
    return g.detach(), grads


def _node_field_grads(energy: EnergyMLP, x: torch.Tensor, y: torch.Tensor):
    g = energy.input_gradient(x)
    loss = (g - y).pow(2).mean()
    grads = torch.autograd.grad(loss, list(energy.parameters()))
    with torch.no_grad():
        g_free = energy.input_gradient(x)
    return g.detach(), g_free, grads


@pytest.mark.parametrize("hidden", [(200, 200), (200,), (64, 48, 40), (16, 16)])
def test_energy_gradient_node_matches_autograd_float32(hidden):
    g = _gen(1)
    energy = EnergyMLP(2, hidden, generator=g)
    with torch.no_grad():  # off the initialisation: biases and scales of a trained net
        for p in energy.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    x = torch.rand(750, 2, generator=g) * 2 - 1
    y = torch.randn(750, 2, generator=g)
    g_ref, grads_ref = _reference_field_grads(energy, x, y)
    g64, grads64 = _reference_field_grads(copy.deepcopy(energy).double(), x.double(), y.double())
    g_node, g_free, grads_node = _node_field_grads(energy, x, y)
    for got in (g_node, g_free):
        assert rel(got, g64) < TOL
        assert rel(got, g_ref) < TOL
    for got, ref, exact in zip(grads_node, grads_ref, grads64, strict=True):
        assert rel(got, exact) < TOL
        assert rel(got, ref) < TOL


def test_energy_gradient_node_gradcheck_float64():
    energy = EnergyMLP(2, (5, 4), generator=_gen(2)).double()
    x = torch.randn(6, 2, generator=_gen(3), dtype=torch.float64, requires_grad=True)
    params = tuple(energy.parameters())

    def field(x, w1, b1, w2, b2, wo):
        return tanh_mlp_input_gradient(x, [w1, w2], [b1, b2], wo)

    inputs = (x, *(p.detach().clone().requires_grad_() for p in params))
    assert torch.autograd.gradcheck(field, inputs)
    assert torch.autograd.gradgradcheck(field, inputs)
    g = field(*inputs)
    assert torch.allclose(
        g, _composite(x, inputs[5], [inputs[1], inputs[3]], [inputs[2], inputs[4]])
    )


@pytest.mark.parametrize("hidden", [(200, 200), (200,), (64, 48, 40), (16, 16)])
def test_baseline_node_matches_the_plain_network_float32(hidden):
    g = _gen(4)
    field = MLPField(2, hidden, generator=g)
    with torch.no_grad():
        for p in field.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    x = torch.rand(750, 2, generator=g) * 2 - 1
    y = torch.randn(750, 2, generator=g)
    results = {}
    for name in ("node", "plain", "f64"):
        f = copy.deepcopy(field)
        xx, yy = x, y
        if name == "f64":
            f, xx, yy = f.double(), x.double(), y.double()
        net = f.net if name == "plain" else f  # f.net: nn.Sequential through autograd
        out = net(xx)
        (out - yy).pow(2).mean().backward()
        with torch.no_grad():
            free = net(xx)
        results[name] = [out.detach(), free, *(p.grad for p in f.parameters())]
    for got, plain, exact in zip(results["node"], results["plain"], results["f64"], strict=True):
        assert rel(got, exact) < TOL
        assert rel(got, plain) < TOL


def test_baseline_node_gradcheck_and_higher_derivatives_float64():
    field = MLPField(2, (5, 4), generator=_gen(5)).double()
    x = torch.randn(6, 2, generator=_gen(6), dtype=torch.float64, requires_grad=True)
    ps = tuple(p.detach().clone().requires_grad_() for p in field.parameters())

    def f(x, *ps):
        return tanh_mlp(x, ps[0::2], ps[1::2])

    assert torch.autograd.gradcheck(f, (x, *ps))
    assert torch.autograd.gradgradcheck(f, (x, *ps))
    # torch.func: the node has no rules; the plain operations are used instead
    jac = torch.func.jacrev(lambda z: field(z[None])[0])(x[0].detach())
    assert torch.allclose(
        jac, torch.autograd.functional.jacobian(lambda z: field.net(z), x[0].detach())
    )


def test_baseline_keeps_other_activations_on_the_plain_network():
    field = MLPField(2, (8, 8), activation=torch.nn.Softplus, generator=_gen(7))
    assert not field._tanh
    x = torch.randn(5, 2, generator=_gen(8))
    assert torch.equal(field(x), field.net(x))


def test_keep_freed_memory_is_harmless():
    assert keep_freed_memory() in (True, False)
    assert keep_freed_memory() in (True, False)  # twice: same settings


def test_in_place_tanh_backward_is_torchs_bit_for_bit():
    g = _gen(9)
    grad = torch.randn(200, 750, generator=g)
    a = torch.rand(200, 750, generator=g) * 2 - 1
    expected = torch.ops.aten.tanh_backward(grad, a)
    out = _tanh_backward_(grad, a)
    assert out.data_ptr() == grad.data_ptr()  # written into grad's buffer
    assert torch.equal(out, expected)


def test_baseline_node_backward_twice_on_a_retained_graph():
    # the backward works in place on buffers of its own only: the saved tensors are intact,
    # so a second backward through the same graph gives the same gradients, bit for bit
    field = MLPField(2, (200, 200), generator=_gen(10))
    x = torch.rand(750, 2, generator=_gen(11)) * 2 - 1
    loss = field(x).pow(2).mean()
    first = torch.autograd.grad(loss, list(field.parameters()), retain_graph=True)
    second = torch.autograd.grad(loss, list(field.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_tanh_linears_reads_the_layers_the_nodes_use():
    tanh = EnergyMLP(2, (8, 8), generator=_gen(12))
    linears = tanh.tanh_linears()
    assert linears == [m for m in tanh.net if isinstance(m, torch.nn.Linear)]
    assert tanh.has_closed_form_gradient
    soft = EnergyMLP(2, (8, 8), activation=torch.nn.Softplus, generator=_gen(12))
    assert soft.tanh_linears() is None and not soft.has_closed_form_gradient
    with pytest.raises(ValueError, match="tanh activations only"):
        soft.input_gradient(torch.zeros(3, 2))
    # an edit after construction is seen: a tanh swapped for another activation
    tanh.net[1] = torch.nn.Softplus()
    assert tanh.tanh_linears() is None


def test_set_threads_gives_openblas_as_many_threads_before_numpy_loads(monkeypatch):
    import gc
    import sys

    from hamnets.cli._common import set_threads

    before = torch.get_num_threads()
    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delitem(sys.modules, "numpy")  # (as at a command's start)
    try:
        set_threads({"threads": 1})
        assert os.environ["OPENBLAS_NUM_THREADS"] == "1"
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")  # the user's own setting stays
        set_threads({"threads": 1})
        assert os.environ["OPENBLAS_NUM_THREADS"] == "4"
    finally:
        torch.set_num_threads(before)
        gc.unfreeze()
