"""The port-Hamiltonian systems of ``hamnets hnn``: their data as regression pairs and their
networks.

Derivative regression sees one row per saved state, ``z = (x, u, t)`` ``(N, 2n + m + 1)``:
the state, the input recorded with it and its time. :class:`PortPairs` wraps a driven model
(a :class:`~hamnets.hnn.PortHamiltonianNN` or the :class:`~hamnets.hnn.InputMLPField`
baseline) so that its forward takes such rows, which lets the task's stages, its derivative
errors and data-parallel training handle port models exactly as they handle the others.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from ...datasets import (
    PORT_PROTOCOLS,
    PortTrajectoryData,
    denoise_with_derivatives,
    port_trajectory_data,
)
from ...hnn import build_port_model
from ...systems import build_port_system

if TYPE_CHECKING:
    from ._config import HNNConfig
    from ._systems import HNNData

__all__ = ["PortPairs", "build_port_networks", "port_data", "port_rows"]


class PortPairs(nn.Module):
    """A driven field read on regression rows: ``forward(z) = model.field(t, x, u)`` for rows
    ``z = (x, u, t)`` ``(N, dim + m + 1)`` -> ``(N, dim)``, one time and input per row.

    Attributes:
        model: the wrapped field (its parameters are this module's); roll it out with
            ``model.with_input(u)`` (or ``model`` itself when ``m = 0``).
        dim, inputs: ``2n`` and ``m``.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.dim, self.inputs = int(model.dim), int(model.inputs)

    def param_groups(self, lr: float, structure_lr: float) -> list[dict]:
        """Adam's parameter groups: the energy (or the baseline's MLP) at ``lr``, and the
        structure of a port model (its dissipation and input matrix: a handful of numbers
        that Adam, moving each parameter by about ``lr`` per step, would take thousands of
        steps to carry to values of order one) at ``structure_lr``."""
        structure, rest = [], []
        for name, p in self.model.named_parameters():
            part = name.split(".")[0]
            is_structure = part in ("dissipation", "input_map") or "quadratic_factor" in name
            (structure if is_structure else rest).append(p)
        groups = [{"params": rest, "lr": lr}]
        if structure:
            groups.append({"params": structure, "lr": structure_lr})
        return groups

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, dim + m + 1)`` rows -> the field at them ``(N, dim)``."""
        d, m = self.dim, self.inputs
        if z.ndim != 2 or z.shape[1] != d + m + 1:
            raise ValueError(
                f"rows must be (N, {d + m + 1}) = (state, input, time), got {tuple(z.shape)}."
            )
        x, u, t = z[:, :d], z[:, d : d + m], z[:, d + m]  # (N, d), (N, m), (N,)
        return self.model.field(t, x, u if m else None)


def port_rows(states: torch.Tensor, inputs: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Regression rows ``(n_traj * T, dim + m + 1)`` from states ``(n_traj, T, dim)``,
    inputs ``(n_traj, T, m)`` and their times ``(T,)``."""
    n, steps = states.shape[:2]
    times = t.to(states.dtype)[None, :, None].expand(n, steps, 1)  # (n_traj, T, 1)
    return torch.cat([states, inputs.to(states.dtype), times], dim=2).flatten(0, 1)


def port_data(
    name: str, generator: torch.Generator, device: torch.device, *, denoise: bool = False
) -> HNNData:
    """The run's data for the port system ``name`` (:data:`hamnets.datasets.PORT_PROTOCOLS`):
    training and test rows ``(x, u, t)`` with their clean derivatives, and the split data set
    itself (:class:`~hamnets.datasets.PortTrajectoryData`) in ``port``. With ``denoise`` the
    rows regressed on (``x_fit``) hold the states denoised with the clean derivatives
    (:func:`~hamnets.datasets.denoise_with_derivatives`: the derivatives of a driven system
    hold its input, so the same integration applies)."""
    from ._systems import HNNData

    data: PortTrajectoryData = port_trajectory_data(name, generator)
    x = port_rows(data.train_states, data.train_inputs, data.t).to(device)
    x_fit = x
    if denoise:
        clean = denoise_with_derivatives(data.train_states, data.train_dxdt, data.t)
        x_fit = port_rows(clean, data.train_inputs, data.t).to(device)
    x_test = port_rows(data.test_states, data.test_inputs, data.t).to(device)
    dxdt = data.flat(data.train_dxdt).to(device)
    dxdt_test = data.flat(data.test_dxdt).to(device)
    return HNNData(x, dxdt, x_fit, x_test, dxdt_test, port=data)


def build_port_networks(config: HNNConfig, generator: torch.Generator) -> dict[str, nn.Module]:
    """The networks of a port run, each wrapped in :class:`PortPairs`: ``model`` (``port``:
    learned ``H``, damping on the momenta and, for a driven system, a learned force direction
    on them, the structure of every system here; ``H(t, x)`` when the true ``H`` depends on
    time; ``hnn``: a conservative ``H(x)`` that ignores inputs and time; ``baseline``: an MLP of
    ``(x, u, t)``), then the ``baseline`` when ``config.compare_baseline``."""
    truth = build_port_system(config.system)
    dim, m = truth.dim, truth.inputs
    assert config.system in PORT_PROTOCOLS

    def build(name: str) -> PortPairs:
        net = build_port_model(
            name, dim, m, config.hidden, time=truth.explicit_time,
            separable=config.energy.startswith("separable"),
            quadratic=config.energy.endswith("quadratic"),
            periodic=config.symmetry == "periodic", activation=config.activation,
            generator=generator,
        )  # fmt: skip
        return PortPairs(net)

    nets = {"model": build(config.model)}
    if config.compare_baseline:
        nets["baseline"] = build("baseline")
    return nets
