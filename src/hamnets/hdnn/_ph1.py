"""Dissipative H1-DNN: forward Euler on y' = (J - R(t)) K(t) tanh(K(t)^T y + b(t)), R PSD."""

from __future__ import annotations

import math

import torch

from ._base import LayerParams
from ._h1 import H1
from ._smoothness import smoothness


class DissipativeH1(H1):
    """Dissipative (port-Hamiltonian) H1-DNN: H1 with a learned PSD dissipation per layer.

    ``y_{j+1} = y_j + h (J - R_j) K_j tanh(K_j^T y_j + b_j)`` with ``R_j = L_j L_j^T``
    (column vectors; ``K`` stored transposed as in :class:`H1`). The field is
    ``(J - R) grad H`` for ``H(y) = sum log cosh(K^T y + b)``, so along the continuous flow
    ``dH/dt = -grad H^T R grad H <= 0``: the energy can only decrease. First order, not
    symplectic. With ``R_j = 0`` the layer is :class:`H1`'s exactly (the same floating-point
    operations: ``J K - 0 K = J K``).

    Unlike H1, the layer's Jacobian ``I + h (J - R_j) K_j D_j K_j^T`` (``D_j`` the diagonal of
    ``tanh'``) is not covered by the non-vanishing argument for H1, which needs ``J`` skew;
    the backward sensitivity can contract (see docs/gradients.md for what is measured).

    Parameters:
        K: (L, nf, nf), b: (L, nf), both N(0, 1) (drawn first, so with the same generator
        they equal the H1's); L: (L, nf, nf), ``R_j = L_j L_j^T`` (full rank ``r = nf``),
        drawn N(0, 1) times ``dissipation_scale`` (default 0.1: ``E[R_j] = 0.01 nf I``, small
        against ``J``'s unit entries). ``dissipation_scale = 0`` starts at H1 exactly, but
        there ``d R / d L = 0``: ``L`` then receives no gradient and stays 0. Buffer ``J``.

    The fused path (``fused = True``) is :class:`H1`'s with ``h (J - R_j) K_j`` in place of
    ``h J K_j``; the gradient reaches ``L`` through autograd on :meth:`_fused_params`.
    """

    def __init__(
        self,
        nf: int,
        n_layers: int,
        t_end: float,
        *,
        j: str = "J1",
        dissipation_scale: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        scale = dissipation_scale
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(
                f"DissipativeH1: dissipation_scale must be a number >= 0, got {scale!r}."
            )
        if not math.isfinite(scale) or scale < 0:
            raise ValueError(
                f"DissipativeH1: dissipation_scale must be finite and >= 0, got {scale!r}; "
                "0 starts at H1 exactly, 0.1 (the default) with a small dissipation."
            )
        super().__init__(nf, n_layers, t_end, j=j, generator=generator)
        self.dissipation_scale = float(scale)
        self.L = self._randn(n_layers, nf, nf, generator=generator)
        with torch.no_grad():
            self.L.mul_(self.dissipation_scale)

    def dissipation(self) -> torch.Tensor:
        """``R_j = L_j L_j^T`` for every layer: (L, nf, nf), symmetric positive semi-definite."""
        return torch.matmul(self.L, self.L.transpose(1, 2))

    def _drift(self) -> torch.Tensor:
        """``(J - R_j) K_j = J K_j - R_j K_j`` for every layer: (L, nf, nf). Written as a
        difference so that ``R = 0`` gives H1's ``J K`` to the last bit."""
        return torch.matmul(self.J, self.K) - torch.matmul(self.dissipation(), self.K)

    def _stacked(self) -> LayerParams:
        return (self.K, self.b, self._drift().transpose(1, 2))  # ((J - R_j) K_j)^T

    def _fused_params(self) -> LayerParams:
        return (self.K.transpose(1, 2), self.b.unsqueeze(2), self.h * self._drift())

    def regularizer(self, alpha: float, *, node: bool = False) -> torch.Tensor:
        """H1's ``alpha h sum_j 0.5 (||K_{j+1} - K_j||^2 + ||b_{j+1} - b_j||^2)`` plus
        ``alpha h sum_j 0.5 ||L_{j+1} - L_j||_F^2``: the new parameters are smoothed over
        the layers as ``K`` and ``b`` are."""
        if node:
            K, b = self.structured()
            return smoothness(alpha * self.h, K, b, self.L)
        dL = self.L[1:] - self.L[:-1]  # (L-1, nf, nf)
        return super().regularizer(alpha) + alpha * self.h * 0.5 * dL.pow(2).sum()

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, dissipation_scale={self.dissipation_scale:g}"
