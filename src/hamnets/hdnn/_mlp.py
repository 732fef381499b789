"""A plain tanh MLP, the non-Hamiltonian baseline of the gradient analysis."""

from __future__ import annotations

import torch
from torch import nn

from ._base import HamiltonianDNN, LayerParams, State


class MLP(HamiltonianDNN):
    """Plain tanh multilayer perceptron: ``y_{j+1} = tanh(K_j^T y_j + b_j)``, no residual.

    **Not a Hamiltonian network.** It subclasses :class:`HamiltonianDNN` only to reuse the
    one layer loop, the per-layer hooks of the gradient analysis
    (:func:`hamnets.analysis.backward_sensitivity`) and the smoothness regulariser, so the
    same code measures and trains it; it is the baseline whose gradients vanish with depth.
    ``t_end`` has no meaning here (there is no ODE); it defaults to ``n_layers`` (``h = 1``)
    and only scales the regulariser. ``symplectic`` is False.

    Whether gradients vanish depends on the initialisation scale: with N(0, 1) weights at the
    small widths of the 2D examples (``nf = 4``) the BSM norms decay geometrically with depth;
    at large ``nf * std**2`` (e.g. ``nf = 8, std = 1``) a random tanh network is chaotic and
    they can grow instead. Pass ``std`` to choose.

    Args:
        nf: number of features.
        n_layers: number of layers ``L >= 1``.
        t_end: kept for the common constructor; default ``n_layers``.
        std: standard deviation of the N(0, std^2) weight initialisation (biases N(0, 1)).
        generator: optional ``torch.Generator`` for the initialisation.

    Parameters:
        K: (L, nf, nf), b: (L, nf). In rows, a layer reads ``tanh(y @ K_j + b_j)``.
    """

    def __init__(
        self,
        nf: int,
        n_layers: int,
        t_end: float | None = None,
        *,
        std: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__(nf, n_layers, float(n_layers) if t_end is None else t_end)
        std = float(std)
        if not std > 0:
            raise ValueError(f"MLP: std must be > 0, got std={std!r}.")
        self.std = std
        self.K = nn.Parameter(std * torch.randn(n_layers, nf, nf, generator=generator))
        self.b = self._randn(n_layers, nf, generator=generator)

    def _stacked(self) -> LayerParams:
        return (self.K, self.b)

    def _step(self, state: State, K: torch.Tensor, b: torch.Tensor) -> State:
        (y,) = state  # (batch, nf)
        return (torch.tanh(torch.addmm(b, y, K)),)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.K, self.b

    def extra_repr(self) -> str:
        return f"nf={self.nf}, n_layers={self.n_layers}, std={self.std:g}"
