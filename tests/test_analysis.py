"""Backward sensitivity matrices: exact against autograd, symplectic structure, MLP decay."""

from __future__ import annotations

import pytest
import torch

from hamnets.analysis import (
    accumulate_backward,
    backward_sensitivity,
    layer_jacobians,
    smallest_singular_value,
    spectral_norm,
    symplecticity_residual,
)
from hamnets.hdnn import MLP, MODEL_NAMES, HamiltonianDNN, build_hdnn

NF, LAYERS, BATCH = 4, 6, 3


def _model(name: str, *, nf: int = NF, layers: int = LAYERS, seed: int = 0) -> HamiltonianDNN:
    gen = torch.Generator().manual_seed(seed)
    if name == "MLP":
        return MLP(nf, layers, generator=gen).double()
    return build_hdnn(name, nf, layers, 2.0, generator=gen).double()


def _states(n: int = BATCH, nf: int = NF, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, nf, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("name", [*MODEL_NAMES, "MLP"])
def test_bsm_matches_autograd_jacobian_of_layer_j_to_output(name: str) -> None:
    model = _model(name)
    y0 = _states()
    bsm = backward_sensitivity(model, y0)
    assert bsm.shape == (BATCH, LAYERS + 1, NF, NF)
    assert bsm.dtype == torch.float64
    with torch.no_grad():
        states = model(y0, return_states=True)  # (L+1, batch, nf)
    for j in range(LAYERS + 1):
        for b in range(BATCH):
            jac = torch.autograd.functional.jacobian(
                lambda y, j=j: model(y.unsqueeze(0), start=j)[0], states[j, b]
            )  # (nf, nf): d y_L / d y_j
            torch.testing.assert_close(bsm[b, j], jac, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(bsm[:, -1], torch.eye(NF, dtype=torch.float64).expand(BATCH, -1, -1))


def test_batch_mean_option() -> None:
    model, y0 = _model("H1_J2"), _states()
    mean = backward_sensitivity(model, y0, mean=True)
    assert mean.shape == (LAYERS + 1, NF, NF)
    torch.testing.assert_close(mean, backward_sensitivity(model, y0).mean(0))


def test_layer_jacobians_multiply_to_the_bsm() -> None:
    model, y0 = _model("MS1"), _states()
    jac = layer_jacobians(model, y0)
    assert jac.shape == (BATCH, LAYERS, NF, NF)
    bsm = backward_sensitivity(model, y0)
    torch.testing.assert_close(bsm[0, 0], torch.linalg.multi_dot(list(jac[0].flip(0))))
    torch.testing.assert_close(bsm[:, 2], jac[:, 5] @ jac[:, 4] @ jac[:, 3] @ jac[:, 2])


def test_accumulate_backward_order_and_identity() -> None:
    a = torch.tensor([[1.0, 2.0], [0.0, 1.0]])
    b = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    m = accumulate_backward(torch.stack([a, b]))  # steps: a first, then b
    assert m.shape == (3, 2, 2)
    torch.testing.assert_close(m[0], b @ a)
    torch.testing.assert_close(m[1], b)
    torch.testing.assert_close(m[2], torch.eye(2))
    with pytest.raises(ValueError, match="shape"):
        accumulate_backward(torch.zeros(3, 2, 3))


@pytest.mark.parametrize("name", ["H2", "MS3"])
def test_symplectic_models_have_symplectic_bsms_with_norm_at_least_one(name: str) -> None:
    model = _model(name, layers=24)
    bsm = backward_sensitivity(model, _states(n=5))  # (5, 25, nf, nf)
    residual = symplecticity_residual(model, bsm)
    assert residual.shape == (5, 25)
    assert residual.max() < 1e-10
    assert spectral_norm(bsm).min() >= 1.0 - 1e-12
    # singular values pair up as (s, 1/s): sigma_max * sigma_min = 1
    product = spectral_norm(bsm) * smallest_singular_value(bsm)
    torch.testing.assert_close(product, torch.ones_like(product), rtol=1e-9, atol=0)
    torch.testing.assert_close(torch.linalg.det(bsm), torch.ones(5, 25, dtype=torch.float64))


@pytest.mark.parametrize("name", ["H1_J1", "H1_J2", "MS1", "MS2", "MLP"])
def test_symplecticity_residual_refuses_non_symplectic_models(name: str) -> None:
    model = _model(name)
    bsm = backward_sensitivity(model, _states())
    with pytest.raises(ValueError, match="not symplectic"):
        symplecticity_residual(model, bsm)


def test_symplecticity_residual_detects_a_non_symplectic_matrix() -> None:
    J = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    m = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)  # det 2
    torch.testing.assert_close(symplecticity_residual(J, m), torch.tensor(2.0**0.5, dtype=m.dtype))
    with pytest.raises(ValueError, match="does not fit"):
        symplecticity_residual(J, torch.eye(3, dtype=torch.float64))


def test_mlp_norms_decay_with_depth() -> None:
    # N(0, 1) weights at nf = 4 (the 2D-classification width): ordered regime, decay.
    layers = 60
    model = _model("MLP", nf=4, layers=layers, seed=3)
    norms = spectral_norm(backward_sensitivity(model, _states(n=16), mean=True))
    depth = torch.arange(layers + 1, dtype=torch.float64)  # depth l: dy_L/dy_{L-l}
    log_norm = norms.flip(0).log()
    slope = torch.linalg.lstsq(
        torch.stack([depth, torch.ones_like(depth)], 1), log_norm.unsqueeze(1)
    ).solution[0, 0]
    assert slope < -0.1  # geometric decay per layer
    assert norms[0] < 1e-6 * norms[layers - 1]


def test_singular_value_helpers() -> None:
    m = torch.diag(torch.tensor([3.0, 0.5])).expand(4, 2, 2)
    torch.testing.assert_close(spectral_norm(m), torch.full((4,), 3.0))
    torch.testing.assert_close(smallest_singular_value(m), torch.full((4,), 0.5))
    with pytest.raises(ValueError, match="square"):
        spectral_norm(torch.zeros(2, 3))


def test_bad_inputs_raise_value_error() -> None:
    model = _model("H2")
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        backward_sensitivity(model, torch.zeros(4, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"\(batch, 4\)"):
        backward_sensitivity(model, torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="HamiltonianDNN"):
        backward_sensitivity(torch.nn.Linear(4, 4), torch.zeros(2, 4))


def test_float32_model_on_its_device() -> None:
    model = build_hdnn("H2", NF, LAYERS, 2.0, generator=torch.Generator().manual_seed(0))
    bsm = backward_sensitivity(model, torch.zeros(2, NF))
    assert bsm.dtype == torch.float32 and bsm.device == model.K_p.device


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_bsm_on_cuda_matches_cpu() -> None:
    model, y0 = _model("MS3"), _states()
    cpu = backward_sensitivity(model, y0)
    gpu = backward_sensitivity(model.to("cuda"), y0.to("cuda"))
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu)


def test_mlp_validates_and_layer_step_matches_forward() -> None:
    with pytest.raises(ValueError, match="std"):
        MLP(4, 3, std=0.0)
    model = _model("MLP")
    y = _states()
    params = [p[2] for p in model.layer_params()]
    torch.testing.assert_close(model.layer_step(y, *params), model(y, start=2, stop=3))
    torch.testing.assert_close(model(y, stop=1), torch.tanh(y @ model.K[0] + model.b[0]))
