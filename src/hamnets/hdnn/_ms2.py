"""MS2-DNN (Haber and Ruthotto): forward Euler with an anti-symmetric weight matrix."""

from __future__ import annotations

import torch

from ._base import HamiltonianDNN, LayerParams, State
from ._halfsteps import residual, residual_backward


class MS2(HamiltonianDNN):
    """MS2-DNN (Haber and Ruthotto 2017; Chang et al. 2018): forward Euler per layer.

    ``y <- y + h tanh(A_j y + b_j)`` with ``A_j = W_j - W_j^T`` anti-symmetric. First order,
    not symplectic.

    Parameters:
        W: (L, nf, nf); b: (L, nf), N(0, 1) at initialisation.
    """

    def __init__(
        self, nf: int, n_layers: int, t_end: float, *, generator: torch.Generator | None = None
    ) -> None:
        super().__init__(nf, n_layers, t_end)
        self.W = self._randn(n_layers, nf, nf, generator=generator)
        self.b = self._randn(n_layers, nf, generator=generator)

    def antisymmetric(self) -> torch.Tensor:
        """``A = W - W^T`` per layer, shape (L, nf, nf)."""
        return self.W - self.W.transpose(1, 2)

    def _stacked(self) -> LayerParams:
        A_T = -self.antisymmetric()  # (L, nf, nf): A^T = -A
        return (A_T, self.b)

    def _step(self, state: State, A_T: torch.Tensor, b: torch.Tensor) -> State:
        (y,) = state  # (batch, nf)
        return (y + self.h * torch.tanh(torch.addmm(b, y, A_T)),)

    # The fused step, channels first: y (nf, N) <- y + h tanh(A y + b).
    def _fused_params(self) -> LayerParams:
        return (self.antisymmetric(), self.b.unsqueeze(2))

    def _fused_grad_scales(self) -> tuple[float, ...]:
        return (self.h, self.h)

    def _fused_step(self, state, new, act, A, b) -> None:
        residual(state[0], state[0], A, b, self.h, out=new[0], s=act)

    def _fused_backward(self, state, new_state, grads, act, t, u, params, params_t):
        ((y,), (g,), (At, _)) = state, grads, params_t
        return residual_backward(y, act, g, g, At, self.h, t=t)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.antisymmetric(), self.b
