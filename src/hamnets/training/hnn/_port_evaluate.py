"""Evaluation of a port-Hamiltonian run: rollouts under unseen inputs, the learned
dissipation along the true trajectories, and the learned model's energy balance.

Everything here is float64 (double copies of the trained networks): the balance is a
consistency check of model and integrator, and float32 rounding would hide it.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..._port_field import PortHamiltonianField
from ...controls import Signal, random_sinusoids
from ...datasets import PORT_PROTOCOLS, port_reference_rollout, sample_port_initial_conditions
from ...integrate import Solver, odeint
from ...systems import PortHamiltonianSystem
from ._evaluate import Evaluation, derivative_mse, eval_times

if TYPE_CHECKING:
    from ._config import HNNConfig
    from ._port import PortPairs
    from ._systems import HNNData

__all__ = ["balance_rollout", "evaluate_port", "port_eval_conditions", "powers_along"]

F64 = torch.float64


def port_eval_conditions(
    config: HNNConfig, truth: PortHamiltonianSystem
) -> tuple[torch.Tensor, Signal | None]:
    """The ``n_eval`` initial states ``(B, dim)`` (float64) and, for a driven system, their
    inputs, drawn as the data's are (:data:`~hamnets.datasets.PORT_PROTOCOLS`) from a
    generator seeded apart from the data's: states and inputs that training never saw."""
    g = torch.Generator().manual_seed(config.seed + 1_000_003)
    protocol = PORT_PROTOCOLS[config.system]
    x0 = sample_port_initial_conditions(config.system, config.n_eval, g)
    if not truth.inputs:
        return x0, None
    signal = random_sinusoids(
        config.n_eval, g, inputs=truth.inputs, terms=protocol.terms,
        amplitude=protocol.amplitude, frequency=protocol.frequency,
    )  # fmt: skip
    return x0, signal


def _driven(model: nn.Module, signal: Signal | None) -> nn.Module:
    """The field ``f(t, x)`` that ``odeint`` integrates: ``model`` bound to ``signal``."""
    return model if signal is None else model.with_input(signal)


def _flat_inputs(signal: Signal | None, t: torch.Tensor, batch: int) -> torch.Tensor:
    """The inputs at every (time, rollout) ``(T * B, m)`` in the order of ``xs.flatten(0, 1)``."""
    if signal is None:
        return torch.zeros(len(t) * batch, 0, dtype=F64)
    return signal.sample(t).transpose(0, 1).flatten(0, 1).to(F64)  # (B, T, m) -> (T * B, m)


@torch.no_grad()
def powers_along(
    port: PortHamiltonianField, xs: torch.Tensor, t: torch.Tensor, signal: Signal | None
) -> dict[str, torch.Tensor]:
    """Along given trajectories ``xs`` ``(T, B, dim)`` at times ``t`` ``(T,)``: ``H``, the
    dissipated power ``grad H^T R grad H``, the supplied power ``y^T u`` (each ``(T, B)``),
    and the diagonal of ``R``'s momentum block ``(T, B, n)``, in one batched call."""
    steps, batch, dim = xs.shape
    x = xs.reshape(-1, dim).to(F64)  # (T * B, dim)
    tt = t.to(F64)[:, None].expand(steps, batch).reshape(-1)  # (T * B,): one time per row
    u = _flat_inputs(signal, t, batch)
    parts = port.parts(tt, x, u)
    r = port.dissipation_matrix(x)  # (T * B, dim, dim)
    n = dim // 2
    return {
        "h": port.hamiltonian(tt, x).reshape(steps, batch),
        "dissipated_power": parts.dissipated_power.reshape(steps, batch),
        "supplied_power": parts.supplied_power.reshape(steps, batch),
        "r_pp": r[:, n:, n:].diagonal(dim1=1, dim2=2).reshape(steps, batch, n),
    }


@torch.no_grad()
def balance_rollout(
    port: PortHamiltonianField,
    x0: torch.Tensor,
    t: torch.Tensor,
    signal: Signal | None,
    solver: Solver,
) -> dict[str, torch.Tensor]:
    """Roll ``port`` out from ``x0`` ``(B, dim)`` with the energy balance integrated beside
    the state (float64): ``z = (x, D, S, P)`` with ``D' = grad H^T R grad H``, ``S' = y^T u``
    and ``P' = partial_t H``. Returns ``x`` ``(T, B, dim)`` and ``h`` (``H(t) - H(0)``),
    ``dissipated`` (``D``), ``supplied`` (``S``), ``explicit`` (``P``) and ``residual``
    (``H(t) - H(0) - S + D - P``), each ``(T, B)``."""
    dim = x0.shape[1]
    t = t.to(F64)

    def augmented(s: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        x = z[:, :dim]
        parts = port.parts(s, x, signal(s) if signal is not None else None)
        rates = [parts.dissipated_power, parts.supplied_power, port.dh_dt_explicit(s, x)]
        return torch.cat([parts.dxdt, torch.stack(rates, 1)], 1)  # (B, dim + 3)

    z0 = torch.cat([x0.to(F64), torch.zeros(len(x0), 3, dtype=F64)], 1)  # (B, dim + 3)
    zs = odeint(augmented, z0, t, solver)  # (T, B, dim + 3)
    xs = zs[..., :dim]
    steps, batch = zs.shape[:2]
    tt = t[:, None].expand(steps, batch).reshape(-1)
    h = port.hamiltonian(tt, xs.reshape(-1, dim)).reshape(steps, batch)
    h = h - h[:1]
    dissipated, supplied, explicit = zs[..., dim], zs[..., dim + 1], zs[..., dim + 2]
    residual = h - supplied + dissipated - explicit
    out = {"x": xs, "h": h, "dissipated": dissipated, "supplied": supplied}
    return {**out, "explicit": explicit, "residual": residual}


def _double(net: nn.Module) -> nn.Module:
    return copy.deepcopy(net).to("cpu", F64).eval()


def _state_mse(pred: torch.Tensor, true: torch.Tensor) -> float:
    return float((pred - true).pow(2).mean())


def _structure_metrics(
    port: PortHamiltonianField,
    truth: PortHamiltonianSystem,
    true: torch.Tensor,
    t: torch.Tensor,
    signal: Signal | None,
) -> dict[str, Any]:
    """The learned dissipation along the true trajectories against the truth's."""
    learned = powers_along(port, true, t, signal)
    exact = powers_along(truth, true, t, signal)
    d_true = truth.damping.to(F64)  # (n,)
    d_learned = learned["r_pp"].mean(dim=(0, 1))  # (n,)
    out: dict[str, Any] = {"learned_damping": d_learned.tolist(), "true_damping": d_true.tolist()}
    damped = d_true > 0
    if bool(damped.any()):  # the mean over the damped masses of |D_learned - D| / D
        rel = (d_learned[damped] - d_true[damped]).abs() / d_true[damped]
        out["dissipation_relative_error"] = float(rel.mean())
    e_learned = torch.trapezoid(learned["dissipated_power"], t, dim=0)  # (B,)
    e_true = torch.trapezoid(exact["dissipated_power"], t, dim=0)
    out["dissipated_energy"] = float(e_learned.sum())
    out["true_dissipated_energy"] = float(e_true.sum())
    if float(e_true.sum()) > 0:  # sum_b |E_learned,b - E_b| / sum_b E_b
        out["dissipated_energy_relative_error"] = float(
            (e_learned - e_true).abs().sum() / e_true.sum()
        )
    return out


def _true_balance(
    truth: PortHamiltonianSystem, true: torch.Tensor, t: torch.Tensor, signal: Signal | None
) -> dict[str, torch.Tensor]:
    """The true system's balance curves along its own trajectories (trapezoid rule)."""
    p = powers_along(truth, true, t, signal)

    def integral(power: torch.Tensor) -> torch.Tensor:
        zero = power.new_zeros(1, power.shape[1])
        return torch.cat([zero, torch.cumulative_trapezoid(power, t, dim=0)])  # (T, B)

    h = p["h"] - p["h"][:1]
    return {"h": h, "supplied": integral(p["supplied_power"]),
            "dissipated": integral(p["dissipated_power"])}  # fmt: skip


@torch.no_grad()
def evaluate_port(
    config: HNNConfig,
    truth: PortHamiltonianSystem,
    data: HNNData,
    nets: dict[str, tuple[PortPairs, Solver]],
) -> Evaluation:
    """A port run's evaluation (``metrics.json``):

    - ``train_derivative_mse``, ``test_derivative_mse``: the field against the clean
      derivatives on the training and test rows;
    - ``state_mse``: ``n_eval`` rollouts to ``horizon`` from unseen initial states under
      unseen inputs (:func:`port_eval_conditions`), against the true solution;
    - for a ``port`` or ``hnn`` model: ``learned_damping`` (the mean of ``R``'s momentum
      diagonal along the true test trajectories, per mass) and
      ``dissipation_relative_error`` (its mean relative error over the damped masses);
      ``dissipated_energy_relative_error``: the energy the model dissipates along the true
      trajectories (``int grad H^T R grad H dt``, trapezoid rule on the saved times) against
      the truth's, ``sum_b |E_b - E*_b| / sum_b E*_b``; and ``energy_balance_residual``: the
      largest ``|H(t) - H(0) - int y^T u + int grad H^T R grad H - int partial_t H|`` over
      rollouts and times along the model's own rollouts (:func:`balance_rollout`);
    - ``baseline``: the same errors of the baseline (state and derivatives).

    Rollouts are float64, with the run's solvers.
    """
    assert data.x_test is not None and data.dxdt_test is not None
    wrapped, solver = nets["model"]
    metrics: dict[str, Any] = {
        "train_derivative_mse": derivative_mse(wrapped, data.x, data.dxdt),
        "test_derivative_mse": derivative_mse(wrapped, data.x_test, data.dxdt_test),
    }
    t = eval_times(config)
    x0, signal = port_eval_conditions(config, truth)
    truth = truth.double()
    true = port_reference_rollout(truth, x0, t, signal)  # (T, B, dim)
    model = _double(wrapped.model)
    out = Evaluation(metrics, t, {"true": true}, h0=None)
    if signal is not None:
        out.inputs = signal.sample(t)  # (B, T, m)
    out.balance = {"true": _true_balance(truth, true, t, signal)}
    if isinstance(model, PortHamiltonianField):
        rollout = balance_rollout(model, x0, t, signal, solver)
        pred = rollout["x"]
        metrics["state_mse"] = _state_mse(pred, true)
        metrics.update(_structure_metrics(model, truth, true, t, signal))
        metrics["energy_balance_residual"] = float(rollout["residual"].abs().max())
        out.balance[config.model] = {k: rollout[k] for k in ("h", "supplied", "dissipated")}
    else:
        pred = odeint(_driven(model, signal), x0, t, solver)
        metrics["state_mse"] = _state_mse(pred, true)
    out.rollouts[config.model] = pred
    if "baseline" in nets:
        bwrapped, bsolver = nets["baseline"]
        baseline = _double(bwrapped.model)
        bpred = odeint(_driven(baseline, signal), x0, t, bsolver)
        metrics["baseline"] = {
            "state_mse": _state_mse(bpred, true),
            "train_derivative_mse": derivative_mse(bwrapped, data.x, data.dxdt),
            "test_derivative_mse": derivative_mse(bwrapped, data.x_test, data.dxdt_test),
        }
        out.rollouts["baseline"] = bpred
    return out
