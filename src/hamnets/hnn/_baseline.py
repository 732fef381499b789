"""``MLPField``: the unconstrained baseline of Greydanus et al., an MLP that outputs dx/dt."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._mlp import MLP, Init, orthogonal_init
from ._tanh_forward import tanh_mlp


class MLPField(nn.Module):
    """Baseline field ``dx/dt = g_theta(x)``: ``(batch, dim) -> (batch, dim)``, no structure.

    With tanh activations the network runs as one autograd node with a hand-written backward
    (:mod:`hamnets.hnn._tanh_forward`): the same function, in fewer CPU seconds.

    Args:
        dim: state dimension.
        hidden: hidden widths, default ``(200, 200)``.
        activation, init, generator: as for :class:`hamnets.hnn.MLP`.

    Training on derivatives computes a tanh network's loss on CPU in one C call per step
    (:mod:`hamnets.hnn._fused_loss`); ``model.use_c = False`` keeps it in autograd.
    """

    separable = False
    use_c: bool = True

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
        linears = self.net.tanh_linears()
        if linears is not None:  # every activation tanh: the fused node computes the field
            return tanh_mlp(x, [m.weight for m in linears], [m.bias for m in linears])
        return self.net(x)

    @property
    def _tanh(self) -> bool:
        """True when every activation is ``tanh`` (then the fused node computes the field)."""
        return self.net.tanh_linears() is not None
