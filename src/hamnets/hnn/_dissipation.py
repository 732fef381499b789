"""Dissipation parametrisations: ``R(x) = L(x) L(x)^T``, positive semi-definite by construction.

Each is a module ``forward(x) -> L(x)`` from states ``(batch, 2n)`` to factors
``(batch, 2n, r)``; :class:`hamnets.hnn.PortHamiltonianNN` forms ``R v = L (L^T v)``, so
``v^T R v = |L^T v|^2 >= 0`` holds for every parameter value, not only after training.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._mlp import MLP

__all__ = ["NetworkDissipation", "ConstantDissipation", "MomentumDamping", "FixedDissipation"]


def _positive(name: str, v: object) -> int:
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise ValueError(f"{name} must be a positive integer, got {v!r}.")
    return v


def _even(dim: object, who: str) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 2 or dim % 2:
        raise ValueError(f"{who} needs an even state dimension 2n >= 2, got dim={dim!r}.")
    return dim


class NetworkDissipation(nn.Module):
    """``L(x)`` from a small MLP: ``R(x) = L(x) L(x)^T`` for any state-dependent dissipation.

    Args:
        dim: state dimension ``2n``.
        hidden: hidden widths of the MLP ``2n -> 2n * r``.
        rank: ``r`` (default ``2n``: any positive semi-definite ``R``).
        generator: the initialisation's only source of randomness.
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (32,),
        *,
        rank: int | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = _even(dim, "NetworkDissipation")
        self.rank = dim if rank is None else _positive("rank", rank)
        self.net = MLP(dim, hidden, dim * self.rank, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``L(x)``: ``(batch, 2n)`` -> ``(batch, 2n, r)``."""
        return self.net(x).reshape(x.shape[0], self.dim, self.rank)


class ConstantDissipation(nn.Module):
    """A learned constant ``R = L L^T``, ``L`` a ``(2n, r)`` parameter drawn ``scale * N(0, 1)``.

    Args:
        dim: state dimension ``2n``.
        rank: ``r`` (default ``2n``).
        scale: the initial entries' standard deviation.
        generator: the initialisation's only source of randomness.
    """

    def __init__(
        self,
        dim: int,
        *,
        rank: int | None = None,
        scale: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = _even(dim, "ConstantDissipation")
        self.rank = dim if rank is None else _positive("rank", rank)
        self.factor = nn.Parameter(scale * torch.randn(dim, self.rank, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``L`` broadcast to ``(batch, 2n, r)``."""
        return self.factor.to(x.dtype).expand(x.shape[0], -1, -1)


class MomentumDamping(nn.Module):
    """Damping on the momenta only: ``R(x) = [[0, 0], [0, D(q)]]``, ``D(q) = L_D L_D^T``.

    The structure of mechanical friction (a force ``-D(q) dH/dp`` on ``dp/dt`` and none on
    ``dq/dt``), and the default for the damped and forced systems of
    :mod:`hamnets.systems`. ``L_D`` is a learned constant ``(n, r)`` when ``hidden`` is
    ``None``, else an MLP of ``q``: ``n -> n * r``.

    Args:
        n: degrees of freedom (state dimension ``2n``).
        hidden: hidden widths of ``L_D(q)``; ``None`` for a constant ``D``.
        rank: ``r`` (default ``n``).
        scale: initial standard deviation of a constant ``L_D``.
        generator: the initialisation's only source of randomness.
    """

    def __init__(
        self,
        n: int,
        hidden: Sequence[int] | None = None,
        *,
        rank: int | None = None,
        scale: float = 0.1,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.n = _positive("n", n)
        self.dim = 2 * n
        self.rank = n if rank is None else _positive("rank", rank)
        if hidden is None:
            self.net = None
            self.factor = nn.Parameter(scale * torch.randn(n, self.rank, generator=generator))
        else:
            self.net = MLP(n, hidden, n * self.rank, generator=generator)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``L(x) = [[0], [L_D(q)]]``: ``(batch, 2n)`` -> ``(batch, 2n, r)``."""
        b = x.shape[0]
        if self.net is None:
            lower = self.factor.to(x.dtype).expand(b, -1, -1)  # (batch, n, r)
        else:
            lower = self.net(x[:, : self.n]).reshape(b, self.n, self.rank)
        return torch.cat([torch.zeros_like(lower), lower], dim=1)  # (batch, 2n, r)


class FixedDissipation(nn.Module):
    """A given constant ``R`` ``(2n, 2n)``: checked symmetric positive semi-definite at
    construction and stored (a float64 buffer) as its factor ``L = V sqrt(Lambda)`` from ``R``'s
    eigendecomposition, so ``L L^T = R`` to rounding.

    Raises:
        ValueError: ``R`` not square of even size, not symmetric, or with an eigenvalue below
            ``-1e-10 * max(1, |R|)``.
    """

    def __init__(self, matrix: torch.Tensor) -> None:
        super().__init__()
        r = torch.as_tensor(matrix).double()
        if r.ndim != 2 or r.shape[0] != r.shape[1]:
            raise ValueError(f"R must be a square matrix (2n, 2n), got {tuple(r.shape)}.")
        self.dim = _even(r.shape[0], "FixedDissipation")
        scale = max(1.0, float(r.abs().max()))
        if not torch.allclose(r, r.T, atol=1e-12 * scale, rtol=0):
            raise ValueError("R must be symmetric; pass (R + R^T) / 2 if that is what you mean.")
        lam, vec = torch.linalg.eigh(r)
        if float(lam.min()) < -1e-10 * scale:
            raise ValueError(
                f"R must be positive semi-definite (a dissipation), its smallest eigenvalue is "
                f"{float(lam.min()):.3g}."
            )
        keep = lam > 1e-14 * scale
        factor = vec[:, keep] * lam[keep].sqrt()  # (2n, r)
        if factor.shape[1] == 0:
            factor = torch.zeros(self.dim, 1, dtype=torch.float64)
        self.register_buffer("factor", factor)  # float64: cast to the state's dtype on use

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``L`` broadcast to ``(batch, 2n, r)``."""
        return self.factor.to(x.dtype).expand(x.shape[0], -1, -1)
