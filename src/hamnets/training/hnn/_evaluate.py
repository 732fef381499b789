"""Evaluation of a trained HNN: derivative errors and batched rollouts against the truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ...datasets import reference_rollout, sample_initial_conditions
from ...integrate import Solver, odeint
from ...systems import HamiltonianSystem

if TYPE_CHECKING:
    from ._config import HNNConfig
    from ._systems import HNNData

__all__ = [
    "Evaluation",
    "derivative_mse",
    "eval_initial_conditions",
    "eval_times",
    "evaluate_protocol",
    "evaluate_tutorial",
    "rollout_metrics",
]


def _mse(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).pow(2).mean())


@torch.no_grad()
def derivative_mse(model: nn.Module, x: torch.Tensor, dxdt: torch.Tensor, chunk: int = 4096):
    """Mean squared error of the model's field against ``dxdt`` on pairs ``(N, dim)``."""
    total = 0.0
    for i in range(0, x.shape[0], chunk):
        total += float((model(x[i : i + chunk]) - dxdt[i : i + chunk]).pow(2).sum())
    return total / dxdt.numel()


@torch.no_grad()
def rollout_metrics(
    model: nn.Module,
    truth: HamiltonianSystem,
    x0: torch.Tensor,
    t: torch.Tensor,
    solver: Solver,
) -> tuple[dict[str, float], torch.Tensor, torch.Tensor]:
    """Integrate ``model`` from all of ``x0`` ``(B, dim)`` in one batched call and compare with
    the true solution.

    Returns:
        metrics: ``state_mse`` (mean over times, samples and components), ``energy_mse``
        (of the true H along the prediction against its true, constant value), and
        ``energy_drift`` (median over samples of ``max_t |H(x(t)) - H(x0)| / |H(x0)|``,
        true H); the predicted ``(T, B, dim)`` and true ``(T, B, dim)`` trajectories.
    """
    param = next(iter(model.parameters()), None)
    dtype = param.dtype if param is not None else torch.float32
    device = param.device if param is not None else torch.device("cpu")
    pred = odeint(model, x0.to(device, dtype), t.to(device, dtype), solver).double().cpu()
    true = reference_rollout(truth, x0, t)
    truth = truth.double()
    dim = x0.shape[1]
    h_pred = truth.hamiltonian(pred.reshape(-1, dim)).reshape(pred.shape[:2])  # (T, B)
    h_true = truth.hamiltonian(x0.double())  # (B,)
    drift = ((h_pred - h_true).abs().amax(dim=0) / h_true.abs()).median()
    metrics = {
        "state_mse": _mse(pred, true),
        "energy_mse": float((h_pred - h_true).pow(2).mean()),
        "energy_drift": float(drift),
    }
    return metrics, pred, true


def eval_initial_conditions(system: str, config: HNNConfig, *, ood: bool = False) -> torch.Tensor:
    """The ``n_eval`` evaluation initial conditions (float64), seeded apart from the data."""
    g = torch.Generator().manual_seed(config.seed + (2_000_003 if ood else 1_000_003))
    return sample_initial_conditions(system, config.n_eval, g, ood=ood)


def eval_times(config: HNNConfig) -> torch.Tensor:
    """The ``eval_points`` times ``(T,)`` (float64) evenly spaced on ``[0, horizon]``."""
    return torch.linspace(0.0, config.horizon, config.eval_points, dtype=torch.float64)


@dataclass
class Evaluation:
    """Metrics, and what the plots draw: rollouts ``(T, B, dim)`` (``true`` and one per
    network), the true H along them ``(T, B)``, the times ``(T,)`` and ``H(x0)`` ``(B,)``.
    A port system's evaluation adds the rollouts' inputs ``(B, T, m)`` and the energy
    balance: per source (``true``, the model) the curves ``h`` (``H(t) - H(0)``),
    ``supplied`` and ``dissipated`` ``(T, B)``."""

    metrics: dict[str, Any]
    t: torch.Tensor
    rollouts: dict[str, torch.Tensor] = field(default_factory=dict)
    energies: dict[str, torch.Tensor] = field(default_factory=dict)
    h0: torch.Tensor | None = None
    inputs: torch.Tensor | None = None
    balance: dict[str, dict[str, torch.Tensor]] | None = None


def evaluate_protocol(
    config: HNNConfig,
    truth: HamiltonianSystem,
    data: HNNData,
    nets: dict[str, tuple[nn.Module, Solver]],
) -> Evaluation:
    """The paper's evaluation: derivative MSEs on the train and test pairs, and rollouts to
    ``horizon`` from ``n_eval`` initial conditions of the training distribution and from as
    many out-of-distribution ones. ``nets``: ``model`` and optionally ``baseline``, each with
    the solver of its rollouts."""
    assert data.x_test is not None and data.dxdt_test is not None
    model, solver = nets["model"]
    metrics: dict[str, Any] = {
        "train_derivative_mse": derivative_mse(model, data.x, data.dxdt),
        "test_derivative_mse": derivative_mse(model, data.x_test, data.dxdt_test),
    }
    t = eval_times(config)
    x0 = eval_initial_conditions(config.system, config)
    x0_ood = eval_initial_conditions(config.system, config, ood=True)
    m, pred, true = rollout_metrics(model, truth, x0, t, solver)
    metrics.update(m)
    dim = x0.shape[1]
    h = truth.double().hamiltonian
    out = Evaluation(metrics, t, {"true": true, config.model: pred}, h0=h(x0))
    out.energies[config.model] = h(pred.reshape(-1, dim)).reshape(pred.shape[:2])
    metrics["ood"] = rollout_metrics(model, truth, x0_ood, t, solver)[0]
    if "baseline" in nets:
        baseline, bsolver = nets["baseline"]
        bm, bpred, _ = rollout_metrics(baseline, truth, x0, t, bsolver)
        bm["train_derivative_mse"] = derivative_mse(baseline, data.x, data.dxdt)
        bm["test_derivative_mse"] = derivative_mse(baseline, data.x_test, data.dxdt_test)
        bm["ood"] = rollout_metrics(baseline, truth, x0_ood, t, bsolver)[0]
        metrics["baseline"] = bm
        out.rollouts["baseline"] = bpred
        out.energies["baseline"] = h(bpred.reshape(-1, dim)).reshape(bpred.shape[:2])
    return out


@torch.no_grad()
def evaluate_tutorial(
    config: HNNConfig,
    truth: HamiltonianSystem,
    data: HNNData,
    nets: dict[str, tuple[nn.Module, Solver]],
) -> Evaluation:
    """The DiffEqFlux tutorial's evaluation: the derivative MSE on the data, and one rollout
    from the first state at the data's times, against the data (on which ``H = 1``)."""
    model, solver = nets["model"]
    metrics: dict[str, Any] = {"train_derivative_mse": derivative_mse(model, data.x, data.dxdt)}
    pred = odeint(model, data.x[:1], data.t.to(data.x.device), solver).double().cpu()  # (N, 1, 2)
    true = data.x.double().cpu()[:, None]  # (N, 1, 2)
    h = truth.double().hamiltonian(pred[:, 0])  # q^2 + p^2, 1 on the data
    metrics.update(
        state_mse=_mse(pred, true),
        energy_mse=float((h - 1.0).pow(2).mean()),
        energy_drift=float((h - 1.0).abs().max()),
    )
    return Evaluation(
        metrics,
        data.t,
        {"true": true, config.model: pred},
        {config.model: h[:, None]},
        torch.ones(1, dtype=torch.float64),
    )
