"""The pendulum of Greydanus et al. with friction and an external torque."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ._port import PortHamiltonianSystem


class ForcedPendulum(PortHamiltonianSystem):
    """Damped, driven pendulum: ``H = 3 (1 - cos q) + p^2``, ``R = diag(0, 0.2)``,
    ``G = [0, 1]^T`` (one input, a torque on ``p``).

    Field ``dq/dt = 2p``, ``dp/dt = -3 sin q - 0.4 p + u(t)``; port output ``y = dH/dp = 2p``;
    energy balance ``dH/dt = -0.8 p^2 + 2 p u``. The data sets drive each trajectory by its own
    sum of three sinusoids (:func:`hamnets.controls.random_sinusoids`).

    Args:
        signal: the input ``u(t) -> (batch, 1)``; or bind one with :meth:`with_input`.
    """

    name = "forced_pendulum"

    def __init__(self, signal: Callable | None = None) -> None:
        super().__init__(1, [0.2], [[0.0], [1.0]], signal)

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``3 (1 - cos q) + p^2``: ``(batch, 2)`` -> ``(batch,)``."""
        return 3 * (1 - torch.cos(x[:, 0])) + x[:, 1] ** 2

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(3 sin q, 2p)`` ``(batch, 2)``."""
        self._check_state(x)
        return torch.stack([3 * torch.sin(x[:, 0]), 2 * x[:, 1]], dim=1)
