"""Input matrices ``G(x)``: how ``m`` inputs enter ``dx/dt``; modules ``x -> (batch, 2n, m)``."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._dissipation import _even, _positive
from ._mlp import MLP

__all__ = ["ConstantInputMatrix", "NetworkInputMatrix", "MomentumInput", "FixedInputMatrix"]


class ConstantInputMatrix(nn.Module):
    """A learned constant ``G`` ``(2n, m)``, starting at zero (the inputs then enter as the
    loss asks; a zero ``G`` still receives the gradient ``u``).

    Args:
        dim: state dimension ``2n``.
        inputs: ``m``.
    """

    def __init__(self, dim: int, inputs: int) -> None:
        super().__init__()
        self.dim = _even(dim, "ConstantInputMatrix")
        self.inputs = _positive("inputs", inputs)
        self.matrix = nn.Parameter(torch.zeros(dim, inputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``G`` broadcast to ``(batch, 2n, m)``."""
        return self.matrix.to(x.dtype).expand(x.shape[0], -1, -1)


class MomentumInput(nn.Module):
    """Forces on the momenta only: ``G = [[0], [B]]`` with a learned ``B`` ``(n, m)``
    (starting at zero), the structure of a generalised force.

    Args:
        n: degrees of freedom (state dimension ``2n``).
        inputs: ``m``.
    """

    def __init__(self, n: int, inputs: int) -> None:
        super().__init__()
        self.n = _positive("n", n)
        self.dim = 2 * n
        self.inputs = _positive("inputs", inputs)
        self.matrix = nn.Parameter(torch.zeros(n, inputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[[0], [B]]`` broadcast to ``(batch, 2n, m)``."""
        b = self.matrix.to(x.dtype)
        return torch.cat([torch.zeros_like(b), b], 0).expand(x.shape[0], -1, -1)


class NetworkInputMatrix(nn.Module):
    """A state-dependent ``G(x)`` from an MLP ``2n -> 2n * m``.

    Args:
        dim: state dimension ``2n``.
        inputs: ``m``.
        hidden: hidden widths.
        generator: the initialisation's only source of randomness.
    """

    def __init__(
        self,
        dim: int,
        inputs: int,
        hidden: Sequence[int] = (32,),
        *,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = _even(dim, "NetworkInputMatrix")
        self.inputs = _positive("inputs", inputs)
        self.net = MLP(dim, hidden, dim * inputs, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``G(x)``: ``(batch, 2n)`` -> ``(batch, 2n, m)``."""
        return self.net(x).reshape(x.shape[0], self.dim, self.inputs)


class FixedInputMatrix(nn.Module):
    """A given constant ``G`` ``(2n, m)`` (a buffer), e.g. ``[[0], [1]]`` for a force on ``p``."""

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        g = torch.as_tensor(matrix)
        if g.ndim != 2:
            raise ValueError(f"G must be a matrix (2n, m), got shape {tuple(g.shape)}.")
        self.dim = _even(g.shape[0], "FixedInputMatrix")
        self.inputs = _positive("inputs (the columns of G)", g.shape[1])
        self.register_buffer("matrix", g.to(torch.get_default_dtype()).clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``G`` broadcast to ``(batch, 2n, m)``."""
        return self.matrix.to(x.dtype).expand(x.shape[0], -1, -1)
