"""MS1-DNN (Haber and Ruthotto): Verlet discretisation with K = [[0, K~], [-K~^T, 0]]."""

from __future__ import annotations

import torch

from . import _cstack
from ._base import HamiltonianDNN, LayerParams, State
from ._halfsteps import residual, residual_backward


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

    # The fused step, channels first: u, z (n, N) each; act = [tanh(a_z); tanh(a_u)].
    def _fused_params(self) -> LayerParams:
        n = self.nf // 2
        b = self.b.unsqueeze(2)  # (L, nf, 1)
        return (self.K, b[:, n:], -self.K.transpose(1, 2), b[:, :n])

    def _fused_grad_scales(self) -> tuple[float, ...]:
        return (self.h,) * 4

    def _fused_step(self, state, new, act, K, b_z, neg_Kt, b_u) -> None:
        (u, z), (u1, z1), (s_z, s_u) = state, new, self._split_columns(act)
        residual(u, z, K, b_z, self.h, out=z1, s=s_z)  # z + h tanh(K u + b_z)
        residual(z1, u, neg_Kt, b_u, self.h, out=u1, s=s_u)  # u + h tanh(-K^T z1 + b_u)

    def _fused_backward(self, state, new_state, grads, act, t, u_, params, params_t):
        n = self.nf // 2
        (u, _), (_, z1), (g_u, g_z), (s_z, s_u) = state, new_state, grads, (act[:n], act[n:])
        Kt, _, neg_K, _ = params_t
        g_neg_Kt, gb_u = residual_backward(z1, s_u, g_u, g_z, neg_K, self.h, t=t[:n])
        gK, gb_z = residual_backward(u, s_z, g_z, g_u, Kt, self.h, t=t[:n])
        return gK, gb_z, g_neg_Kt, gb_u

    # The C stack (._cstack): all layers per block of pixels; the backward replays the states.
    def _c_stack(self, y: torch.Tensor, params: LayerParams) -> bool:
        return self.use_c and _cstack.usable(self.nf, y, *params)

    def _c_buffer_shape(self, y: torch.Tensor, params: LayerParams) -> tuple[int, ...]:
        return _cstack.acts_shape(*y.shape, params[0].shape[0])

    @staticmethod
    def _c_bias(params: LayerParams) -> torch.Tensor:
        """``(L, nf)`` = ``[b_u; b_z]`` per layer, as the C stack takes them."""
        _, b_z, _, b_u = params
        return torch.cat([b_u, b_z], 1).squeeze(2)

    def _c_forward(self, y, out, params, buf) -> None:
        _cstack.forward(y, out, params[0], self._c_bias(params), self.h, buf)

    def _c_backward(self, y, params, g_out, buf) -> tuple[torch.Tensor, ...]:
        return _cstack.backward(y, params[0], self._c_bias(params), self.h, g_out, buf)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        zero = torch.zeros_like(self.K)
        Kt = self.K.transpose(1, 2)
        K = torch.cat([torch.cat([zero, self.K], 2), torch.cat([-Kt, zero], 2)], 1)
        return K, self.b
