"""MS1-DNN (Haber and Ruthotto): Verlet discretisation with K = [[0, K~], [-K~^T, 0]]."""

from __future__ import annotations

import torch

from ._base import HamiltonianDNN, LayerParams, State


class MS1(HamiltonianDNN):
    """MS1-DNN (Haber and Ruthotto 2017): one Verlet-type step per layer.

    With the state split as ``y = [u; z]`` (``n = nf / 2``), layer ``j`` is
    ``z <- z + h tanh(K_j u + b_z,j)``, then ``u <- u + h tanh(-K_j^T z + b_u,j)`` with the
    new ``z``. First order; not symplectic (the activation sits outside the weights).

    Parameters:
        K: (L, n, n); b: (L, nf) = [b_u; b_z], N(0, 1) at initialisation.
    """

    splits_state = True

    def __init__(
        self, nf: int, n_layers: int, t_end: float, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(nf, n_layers, t_end)
        n = nf // 2
        self.K = self._randn(n_layers, n, n, generator=generator)
        self.b = self._randn(n_layers, nf, generator=generator)

    def _stacked(self) -> LayerParams:
        n = self.nf // 2
        return (self.K, self.b[:, :n], self.b[:, n:])

    def _step(self, state: State, K: torch.Tensor, b_u: torch.Tensor, b_z: torch.Tensor) -> State:
        u, z = state  # (batch, n) each
        z = z + self.h * torch.tanh(torch.addmm(b_z, u, K.t()))  # tanh(K u + b_z)
        u = u + self.h * torch.tanh(torch.addmm(b_u, z, K, alpha=-1.0))  # tanh(-K^T z + b_u)
        return (u, z)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        zero = torch.zeros_like(self.K)
        Kt = self.K.transpose(1, 2)
        K = torch.cat([torch.cat([zero, self.K], 2), torch.cat([-Kt, zero], 2)], 1)
        return K, self.b
