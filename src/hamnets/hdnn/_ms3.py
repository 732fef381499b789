"""MS3-DNN (Chang et al.): two-layer Hamiltonian network, Verlet (symplectic) discretisation."""

from __future__ import annotations

import torch

from .._structure import canonical_j
from ._base import HamiltonianDNN, LayerParams, State
from ._halfsteps import shear, shear_backward


class MS3(HamiltonianDNN):
    """MS3-DNN (Chang et al. 2018): one Verlet (semi-implicit Euler) step per layer.

    With the state split as ``y = [u; z]`` (``n = nf / 2``), layer ``j`` is
    ``z <- z - h K1_j tanh(K1_j^T u + b2_j)``, then ``u <- u + h K2_j tanh(K2_j^T z + b1_j)``
    with the new ``z``. Each half-step is a shear with a symmetric Jacobian block, so a layer
    is **symplectic** for ``J = [[0, I], [-I, 0]]`` (``u`` plays ``q``, ``z`` plays ``p``).
    First order.

    Parameters:
        K1, K2: (L, n, n); b1, b2: (L, n), N(0, 1) at initialisation. Buffer ``J``.
    """

    symplectic = True
    splits_state = True

    def __init__(
        self, nf: int, n_layers: int, t_end: float, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(nf, n_layers, t_end)
        n = nf // 2
        self.register_buffer("J", canonical_j(nf))
        self.K1 = self._randn(n_layers, n, n, generator=generator)
        self.K2 = self._randn(n_layers, n, n, generator=generator)
        self.b1 = self._randn(n_layers, n, generator=generator)
        self.b2 = self._randn(n_layers, n, generator=generator)

    def _stacked(self) -> LayerParams:
        return (self.K1, self.b2, self.K2, self.b1)

    def _step(
        self,
        state: State,
        K1: torch.Tensor,
        b2: torch.Tensor,
        K2: torch.Tensor,
        b1: torch.Tensor,
    ) -> State:
        u, z = state  # (batch, n) each
        z = torch.addmm(z, torch.tanh(torch.addmm(b2, u, K1)), K1.t(), alpha=-self.h)
        u = torch.addmm(u, torch.tanh(torch.addmm(b1, z, K2)), K2.t(), alpha=self.h)
        return (u, z)

    # The fused step, channels first: u, z (n, N) each; act = [tanh(a_u); tanh(a_z)].
    def _fused_params(self) -> LayerParams:
        Kt1, Kt2 = self.K1.transpose(1, 2), self.K2.transpose(1, 2)
        b1, b2 = self.b1.unsqueeze(2), self.b2.unsqueeze(2)
        return (Kt1, b2, -self.h * self.K1, Kt2, b1, self.h * self.K2)

    def _fused_step(self, state, new, act, Kt1, b2, hK1, Kt2, b1, hK2) -> None:
        (u, z), (u1, z1), (s_u, s_z) = state, new, self._split_columns(act)
        shear(u, z, Kt1, b2, hK1, out=z1, s=s_u)  # z - h K1 tanh(K1^T u + b2)
        shear(z1, u, Kt2, b1, hK2, out=u1, s=s_z)  # u + h K2 tanh(K2^T z1 + b1)

    def _fused_backward(self, state, new_state, grads, act, t, w, params, params_t):
        n = self.nf // 2
        (u, _), (_, z1), (g_u, g_z), (s_u, s_z) = state, new_state, grads, (act[:n], act[n:])
        K1, _, hKt1, K2, _, hKt2 = params_t
        t = t[:n]
        grads_z = shear_backward(z1, s_z, g_u, g_z, K2, hKt2, t=t)
        grads_u = shear_backward(u, s_u, g_z, g_u, K1, hKt1, t=t)
        return (*grads_u, *grads_z)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        zero = torch.zeros_like(self.K1)
        K = torch.cat([torch.cat([zero, self.K1], 2), torch.cat([self.K2, zero], 2)], 1)
        return K, torch.cat([self.b1, self.b2], 1)
