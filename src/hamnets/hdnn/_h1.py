"""H1-DNN: forward-Euler discretisation of y' = J K(t) tanh(K(t)^T y + b(t))."""

from __future__ import annotations

import torch

from .._structure import J_NAMES, make_j
from ._base import HamiltonianDNN, LayerParams, State
from ._halfsteps import shear, shear_backward


class H1(HamiltonianDNN):
    """H1-DNN (Galimberti et al. 2021): one forward-Euler step per layer.

    ``y_{j+1} = y_j + h J K_j tanh(K_j^T y_j + b_j)`` (column vectors; the weights are the
    transpose of the papers' ``K``, see :mod:`hamnets._structure`). First order, not
    symplectic. ``J`` is ``J1 = [[0, -I], [I, 0]]`` (needs an even ``nf``) or ``J2``.

    Parameters:
        K: (L, nf, nf), b: (L, nf), both N(0, 1) at initialisation. Buffer ``J``: (nf, nf).
    """

    def __init__(
        self,
        nf: int,
        n_layers: int,
        t_end: float,
        *,
        j: str = "J1",
        generator: torch.Generator | None = None,
    ) -> None:
        name = type(self).__name__
        if j not in J_NAMES:
            raise ValueError(f"{name}: unknown j={j!r}; pass j='J1' or j='J2'.")
        if j == "J1" and isinstance(nf, int) and nf % 2:
            raise ValueError(
                f"{name} with J1 = [[0, -I], [I, 0]] needs an even nf, got nf={nf}; "
                f"pass nf={nf + 1}, or use j='J2', which works for any nf."
            )
        super().__init__(nf, n_layers, t_end)
        self.j = j
        self.register_buffer("J", make_j(j, nf))
        self.K = self._randn(n_layers, nf, nf, generator=generator)
        self.b = self._randn(n_layers, nf, generator=generator)

    def _stacked(self) -> LayerParams:
        JK_T = torch.matmul(self.J, self.K).transpose(1, 2)  # (L, nf, nf): (J K_j)^T
        return (self.K, self.b, JK_T)

    def _step(self, state: State, K: torch.Tensor, b: torch.Tensor, JK_T: torch.Tensor) -> State:
        (y,) = state  # (batch, nf)
        s = torch.tanh(torch.addmm(b, y, K))  # (batch, nf): tanh(K^T y + b)
        return (torch.addmm(y, s, JK_T, alpha=self.h),)

    # The fused step, channels first: y (nf, N) <- y + (h J K) tanh(K^T y + b).
    def _fused_params(self) -> LayerParams:
        hJK = self.h * torch.matmul(self.J, self.K)  # (L, nf, nf)
        return (self.K.transpose(1, 2), self.b.unsqueeze(2), hJK)

    def _fused_step(self, state, new, act, Kt, b, hJK) -> None:
        shear(state[0], state[0], Kt, b, hJK, out=new[0], s=act)

    def _fused_backward(self, state, new_state, grads, act, t, u, params, params_t):
        ((y,), (g,), (K, _, hJKt)) = state, grads, params_t
        return shear_backward(y, act, g, g, K, hJKt, t=t)

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.K, self.b

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, j={self.j}"
