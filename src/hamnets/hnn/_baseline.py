"""``MLPField``: the unconstrained baseline of Greydanus et al., an MLP that outputs dx/dt."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._mlp import MLP, Init, orthogonal_init


class MLPField(nn.Module):
    """Baseline field ``dx/dt = g_theta(x)``: ``(batch, dim) -> (batch, dim)``, no structure.

    Args:
        dim: state dimension.
        hidden: hidden widths, default ``(200, 200)``.
        activation, init, generator: as for :class:`hamnets.hnn.MLP`.
    """

    separable = False

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (200, 200),
        *,
        activation: Callable[[], nn.Module] = nn.Tanh,
        init: Init = orthogonal_init,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = dim
        self.net = MLP(dim, hidden, dim, activation=activation, init=init, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"MLPField expects states of shape (batch, {self.dim}), got {tuple(x.shape)}."
            )
        return self.net(x)
