"""The default energy network: a multi-layer perceptron from states to one scalar."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._tanh_gradient import tanh_mlp_input_gradient

Init = Callable[[torch.Tensor, torch.Generator | None], None]


def orthogonal_init(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    """Orthogonal weights (the initialisation of Greydanus et al.)."""
    nn.init.orthogonal_(weight, generator=generator)


def xavier_init(weight: torch.Tensor, generator: torch.Generator | None) -> None:
    """Glorot/Xavier-uniform weights."""
    nn.init.xavier_uniform_(weight, generator=generator)


class MLP(nn.Module):
    """``in_features -> hidden[0] -> ... -> hidden[-1] -> out_features`` with an activation.

    Biases start at zero; weights are drawn by ``init`` with ``generator``.

    Args:
        in_features: input width (the state dimension ``2n`` for an energy network).
        hidden: widths of the hidden layers (at least one).
        out_features: output width.
        activation: a no-argument constructor of the activation module (a smooth one such as
            ``nn.Tanh`` for an energy: its gradient is the learned field).
        init: ``init(weight, generator)`` fills each weight matrix in place.
        generator: makes the initialisation reproducible.
        output_bias: give the output layer a bias (every hidden layer has one).
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        *,
        activation: Callable[[], nn.Module] = nn.Tanh,
        init: Init = orthogonal_init,
        generator: torch.Generator | None = None,
        output_bias: bool = True,
    ) -> None:
        super().__init__()
        hidden = tuple(hidden)
        if not hidden or any(not isinstance(h, int) or h < 1 for h in hidden):
            raise ValueError(f"hidden must be one or more positive widths, got {hidden!r}.")
        for name, v in (("in_features", in_features), ("out_features", out_features)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}.")
        self.in_features = in_features
        self.out_features = out_features
        widths = (in_features, *hidden, out_features)
        layers: list[nn.Module] = []
        last = len(widths) - 2
        for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
            lin = nn.Linear(a, b, bias=output_bias or i < last)
            with torch.no_grad():
                init(lin.weight, generator)
                if lin.bias is not None:
                    lin.bias.zero_()
            layers.append(lin)
            if i < last:
                layers.append(activation())
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def tanh_linears(self) -> list[nn.Linear] | None:
        """The ``nn.Linear`` layers in order when every activation is ``tanh`` (what the fused
        tanh nodes read), else None; one pass over the layers, made at every call (the
        network may have been edited since construction)."""
        linears = []
        for m in self.net:
            if isinstance(m, nn.Linear):
                linears.append(m)
            elif not isinstance(m, nn.Tanh):
                return None
        return linears


class EnergyMLP(MLP):
    """The default energy network ``H_theta(x)``: states ``(batch, 2n)`` -> energies ``(batch,)``.

    The output layer has no bias: a constant added to ``H`` leaves the field ``J grad H``
    unchanged, so such a bias would be a parameter that no loss on the field ever reaches
    (and one that DistributedDataParallel, which expects a gradient for every parameter,
    refuses on its second step).

    Args:
        dim: input width (``2n`` for a full ``H(q, p)``, ``n`` for ``T(p)`` or ``V(q)``).
        hidden: hidden widths, default ``(200, 200)`` as in Greydanus et al.
        activation, init, generator: as for :class:`MLP`.
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (200, 200),
        *,
        activation: Callable[[], nn.Module] = nn.Tanh,
        init: Init = orthogonal_init,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(
            dim, hidden, 1, activation=activation, init=init, generator=generator, output_bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(-1)  # (batch, 1) -> (batch,)

    @property
    def has_closed_form_gradient(self) -> bool:
        """True when every activation is ``tanh`` (then :meth:`input_gradient` is exact)."""
        return self.tanh_linears() is not None

    def input_gradient(self, x: torch.Tensor) -> torch.Tensor:
        """``dH/dx`` ``(batch, dim)`` in closed form for a tanh MLP (the backward pass written
        out: ``g <- (g * (1 - a^2)) W`` layer by layer), without ``torch.autograd.grad``.

        It is one autograd node with a hand-written backward
        (:mod:`hamnets.hnn._tanh_gradient`), so a loss on it back-propagates in a handful of
        matrix products instead of autograd's double backward; higher derivatives
        (``create_graph=True``) stay exact. Under ``torch.no_grad()`` it records nothing.
        """
        linears = self.tanh_linears()
        if linears is None:
            raise ValueError("input_gradient is written for tanh activations only.")
        hidden = linears[:-1]
        return tanh_mlp_input_gradient(
            x, [m.weight for m in hidden], [m.bias for m in hidden], linears[-1].weight
        )
