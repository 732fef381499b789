import math

import pytest
import torch

from hamnets.controls import (
    CubicInterpolation,
    FunctionSignal,
    LinearInterpolation,
    SinusoidExcitation,
    as_signal,
    random_sinusoids,
)

F64 = torch.float64
INTERPOLATIONS = (LinearInterpolation, CubicInterpolation)


def _knots(n=9, batch=3, m=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = torch.cumsum(0.2 + torch.rand(n, generator=g, dtype=F64), 0)  # uneven knots
    return t, torch.randn(batch, n, m, generator=g, dtype=F64)


@pytest.mark.parametrize("cls", INTERPOLATIONS)
def test_interpolation_passes_through_the_samples_and_is_exact_on_lines(cls):
    t, v = _knots()
    sig = cls(t, v)
    for k in range(len(t)):
        torch.testing.assert_close(sig(t[k]), v[:, k], rtol=0, atol=1e-13)
    line = 0.7 - 1.3 * t[None, :, None] * torch.tensor([1.0, -2.0], dtype=F64)  # (1, T, 2)
    exact = cls(t, line.expand(3, -1, -1))
    s = torch.tensor(float(t[2] + 0.37 * (t[3] - t[2])), dtype=F64)
    want = 0.7 - 1.3 * s * torch.tensor([1.0, -2.0], dtype=F64)
    torch.testing.assert_close(exact(s), want.expand(3, 2), rtol=0, atol=1e-13)
    assert sig(s).shape == (3, 2) and sig.sample(t[:4]).shape == (3, 4, 2)
    torch.testing.assert_close(sig[1:](s), sig(s)[1:])


def test_cubic_spline_converges_at_fourth_order_away_from_the_ends():
    errors = []
    fine = torch.linspace(2.0, 4.0, 201, dtype=F64)
    for n in (21, 41):
        t = torch.linspace(0.0, 2 * math.pi, n, dtype=F64)
        sig = CubicInterpolation(t, torch.sin(t)[None, :, None])
        errors.append((sig.sample(fine)[0, :, 0] - torch.sin(fine)).abs().max().item())
    order = math.log2(errors[0] / errors[1])
    assert abs(order - 4) < 0.5, errors


def test_cubic_spline_has_continuous_second_derivative_and_natural_ends():
    t, v = _knots(n=6, batch=1, m=1)
    sig = CubicInterpolation(t, v)

    def second(s):
        s = torch.tensor(s, dtype=F64, requires_grad=True)
        (d1,) = torch.autograd.grad(sig(s).sum(), s, create_graph=True)
        return torch.autograd.grad(d1, s)[0].item()

    eps = 1e-7
    for k in range(1, 5):
        assert second(float(t[k]) - eps) == pytest.approx(second(float(t[k]) + eps), abs=1e-4)
    assert second(float(t[0])) == pytest.approx(0.0, abs=1e-10)


@pytest.mark.parametrize("cls", INTERPOLATIONS)
def test_interpolation_gradcheck_in_samples_and_time(cls):
    t, v = _knots(n=5, batch=2, m=1)
    v.requires_grad_(True)
    s = torch.tensor(float(t[1] + 0.3 * (t[2] - t[1])), dtype=F64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda vals, s: cls(t, vals)(s), (v, s))


@pytest.mark.parametrize("cls", INTERPOLATIONS)
def test_interpolation_refuses_bad_input(cls):
    t, v = _knots()
    with pytest.raises(ValueError, match="outside the interpolated span"):
        cls(t, v)(t[-1] + 1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        cls(t.flip(0), v)
    with pytest.raises(ValueError, match=r"\(batch, T=9, m\)"):
        cls(t, v[0])


def test_random_sinusoids_are_seeded_in_range_and_vectorised():
    a = random_sinusoids(5, torch.Generator().manual_seed(3), inputs=2)
    b = random_sinusoids(5, torch.Generator().manual_seed(3), inputs=2)
    c = random_sinusoids(5, torch.Generator().manual_seed(4), inputs=2)
    assert torch.equal(a.amplitudes, b.amplitudes) and not torch.equal(a.phases, c.phases)
    assert a.amplitudes.shape == (5, 3, 2)
    assert 0 <= a.amplitudes.min() and a.amplitudes.max() <= 0.5
    assert 0.5 <= a.frequencies.min() and a.frequencies.max() <= 2.0
    assert 0 <= a.phases.min() and a.phases.max() < 2 * math.pi
    t = torch.linspace(0, 3, 7, dtype=F64)
    looped = torch.stack([a(s) for s in t], dim=1)  # (5, 7, 2)
    torch.testing.assert_close(a.sample(t), looped, rtol=0, atol=1e-14)
    want = (a.amplitudes * torch.sin(a.frequencies * 1.5 + a.phases)).sum(1)
    torch.testing.assert_close(a(1.5), want)
    torch.testing.assert_close(a[2:4](1.5), a(1.5)[2:4])


def test_sinusoid_excitation_is_differentiable_in_its_parameters():
    g = torch.Generator().manual_seed(0)
    params = [torch.rand(2, 3, 1, generator=g, dtype=F64, requires_grad=True) for _ in range(3)]
    s = torch.tensor(0.8, dtype=F64)
    assert torch.autograd.gradcheck(lambda a, w, p: SinusoidExcitation(a, w, p)(s), params)


def test_function_signal_and_as_signal():
    sig = as_signal(lambda t: torch.stack([torch.sin(t), torch.cos(t)]), inputs=2)
    assert isinstance(sig, FunctionSignal) and sig(0.0).shape == (1, 2)
    with pytest.raises(ValueError, match=r"\(batch, 3\)"):
        as_signal(lambda t: t.reshape(1, 1), inputs=3)(0.0)
    with pytest.raises(ValueError, match="m=1"):
        as_signal(random_sinusoids(2, torch.Generator(), inputs=2), inputs=1)
    with pytest.raises(ValueError, match="torch.Generator"):
        random_sinusoids(2, None)
