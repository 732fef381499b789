"""H2-DNN: semi-implicit (symplectic) Euler discretisation of a separable Hamiltonian flow."""

from __future__ import annotations

import torch

from .._structure import j1
from ._base import HamiltonianDNN, LayerParams, State
from ._halfsteps import shear, shear_backward


class H2(HamiltonianDNN):
    """H2-DNN (Galimberti et al. 2021): one symplectic-Euler step per layer.

    With the state split as ``y = [p; q]`` (``n = nf / 2``), layer ``j`` is
    ``q <- q + h K_p,j tanh(K_p,j^T p + b_p,j)``, then
    ``p <- p - h K_q,j tanh(K_q,j^T q + b_q,j)`` with the **new** ``q``.
    This is ``y' = J1 K tanh(K^T y + b)`` with ``K = blockdiag(K_p, K_q)``, discretised by
    semi-implicit Euler: first order and **symplectic** (each layer's Jacobian ``M`` has
    ``M^T J1 M = J1``).

    Parameters:
        K_p, K_q: (L, n, n); b_p, b_q: (L, n), N(0, 1) at initialisation. Buffer ``J``: J1.
    """

    symplectic = True
    splits_state = True

    def __init__(
        self, nf: int, n_layers: int, t_end: float, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(nf, n_layers, t_end)
        n = nf // 2
        self.register_buffer("J", j1(nf))
        self.K_p = self._randn(n_layers, n, n, generator=generator)
        self.K_q = self._randn(n_layers, n, n, generator=generator)
        self.b_p = self._randn(n_layers, n, generator=generator)
        self.b_q = self._randn(n_layers, n, generator=generator)

    def _stacked(self) -> LayerParams:
        return (self.K_p, self.b_p, self.K_q, self.b_q)

    def _step(
        self,
        state: State,
        K_p: torch.Tensor,
        b_p: torch.Tensor,
        K_q: torch.Tensor,
        b_q: torch.Tensor,
    ) -> State:
        p, q = state  # (batch, n) each
        q = torch.addmm(q, torch.tanh(torch.addmm(b_p, p, K_p)), K_p.t(), alpha=self.h)
        p = torch.addmm(p, torch.tanh(torch.addmm(b_q, q, K_q)), K_q.t(), alpha=-self.h)
        return (p, q)

    # The fused step, channels first: p, q (n, N) each; act = [tanh(a_p); tanh(a_q)].
    def _fused_params(self) -> LayerParams:
        Kt_p, Kt_q = self.K_p.transpose(1, 2), self.K_q.transpose(1, 2)
        b_p, b_q = self.b_p.unsqueeze(2), self.b_q.unsqueeze(2)
        return (Kt_p, b_p, self.h * self.K_p, Kt_q, b_q, -self.h * self.K_q)

    def _fused_step(self, state, new, act, Kt_p, b_p, hK_p, Kt_q, b_q, hK_q) -> None:
        (p, q), (p1, q1), (s_p, s_q) = state, new, self._split_columns(act)
        shear(p, q, Kt_p, b_p, hK_p, out=q1, s=s_p)  # q + h K_p tanh(K_p^T p + b_p)
        shear(q1, p, Kt_q, b_q, hK_q, out=p1, s=s_q)  # p - h K_q tanh(K_q^T q1 + b_q)

    def _fused_backward(self, state, new_state, grads, act, t, u, params, params_t):
        n = self.nf // 2
        (p, _), (_, q1), (g_p, g_q), (s_p, s_q) = state, new_state, grads, (act[:n], act[n:])
        K_p, _, hKt_p, K_q, _, hKt_q = params_t
        t = t[:n]
        grads_q = shear_backward(q1, s_q, g_p, g_q, K_q, hKt_q, t=t)
        grads_p = shear_backward(p, s_p, g_q, g_p, K_p, hKt_p, t=t)
        return (*grads_p, *grads_q)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        zero = torch.zeros_like(self.K_p)
        K = torch.cat([torch.cat([self.K_p, zero], 2), torch.cat([zero, self.K_q], 2)], 1)
        return K, torch.cat([self.b_p, self.b_q], 1)
