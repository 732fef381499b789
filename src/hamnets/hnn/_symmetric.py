"""``SymmetricEnergy``: an energy network made exactly invariant under a reflection of states."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class SymmetricEnergy(nn.Module):
    """``H(x) = (h(x) + h(S x)) / 2`` with ``S = diag(signs)``, ``signs`` in ``{+1, -1}``.

    Then ``H(S x) = H(x)`` holds exactly, whatever the weights of ``h``. This is a prior the
    user asserts about the true system, not something learned:

    * :meth:`even` (``S = -I``): ``H(-q, -p) = H(q, p)``. True for the spring, the pendulum,
      two-body and any ``H = T(p) + V(q)`` with even ``T`` and ``V``. It fixes the centre of
      the learned orbits at the origin: with noisy states, the data locate that centre only to
      about ``noise / sqrt(number of states)``, and a learned ``H`` shifted by that much is
      what limits the energy error of noise-free derivative regression on the spring.
    * :meth:`time_reversal` (``S = diag(I, -I)``): ``H(q, -p) = H(q, p)``, i.e. the dynamics
      are reversible; true of every ``T(p) + V(q)`` with ``T`` even (no magnetic forces).

    The gradient is ``grad H(x) = (grad h(x) + S grad h(S x)) / 2``; when ``h`` has a
    closed-form input gradient (a tanh :class:`EnergyMLP`), :meth:`input_gradient` evaluates it
    once on the stacked batch ``[x; S x]``.

    Args:
        energy: the network ``h``: states ``(batch, dim)`` -> ``(batch,)`` (or ``(batch, 1)``).
        signs: the diagonal of ``S``, ``dim`` entries each ``+1`` or ``-1`` (at least one
            ``-1``).
    """

    def __init__(self, energy: nn.Module, signs: Sequence[float]) -> None:
        super().__init__()
        signs = [float(s) for s in signs]
        dim = getattr(energy, "in_features", None)
        if any(s not in (1.0, -1.0) for s in signs) or -1.0 not in signs:
            raise ValueError(
                f"signs must be +1 or -1 with at least one -1 (a reflection), got {signs!r}."
            )
        if dim is not None and dim != len(signs):
            raise ValueError(f"the energy takes {dim} inputs but {len(signs)} signs were given.")
        self.energy = energy
        self.in_features = len(signs)
        self.register_buffer("signs", torch.tensor(signs))

    @classmethod
    def even(cls, energy: nn.Module, dim: int | None = None) -> SymmetricEnergy:
        """``H(-x) = H(x)``; ``dim`` defaults to ``energy.in_features``."""
        dim = cls._dim(energy, dim)
        return cls(energy, [-1.0] * dim)

    @classmethod
    def time_reversal(cls, energy: nn.Module, dim: int | None = None) -> SymmetricEnergy:
        """``H(q, -p) = H(q, p)`` for states ``x = [q, p]`` of even dimension ``dim``."""
        dim = cls._dim(energy, dim)
        if dim % 2:
            raise ValueError(f"time reversal needs states [q, p] of even dimension, got {dim}.")
        return cls(energy, [1.0] * (dim // 2) + [-1.0] * (dim // 2))

    @staticmethod
    def _dim(energy: nn.Module, dim: int | None) -> int:
        dim = getattr(energy, "in_features", None) if dim is None else dim
        if not isinstance(dim, int) or dim < 1:
            raise ValueError(
                "could not read the state dimension from the energy (no in_features); pass dim."
            )
        return dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``H(x)``: ``(batch, dim)`` -> ``(batch,)`` (the shape ``h`` returns)."""
        s = self.signs.to(x.dtype)
        return 0.5 * (self.energy(x) + self.energy(x * s))

    @property
    def has_closed_form_gradient(self) -> bool:
        return bool(getattr(self.energy, "has_closed_form_gradient", False))

    def input_gradient(self, x: torch.Tensor) -> torch.Tensor:
        """``grad H(x)`` ``(batch, dim)`` from ``h``'s closed-form gradient on ``[x; S x]``."""
        s = self.signs.to(x.dtype)
        both = self.energy.input_gradient(torch.cat([x, x * s]))  # (2 batch, dim)
        n = x.shape[0]
        return 0.5 * (both[:n] + both[n:] * s)
