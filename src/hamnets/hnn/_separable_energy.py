"""``SeparableEnergy``: ``H(x) = T(p) + V(q)`` (or ``T(p) + V(t, q)``) as one energy module."""

from __future__ import annotations

import torch
from torch import nn

from .._field import takes_time


class SeparableEnergy(nn.Module):
    """A separable energy ``H = T(p) + V(q)`` for fields that take one energy module (such as
    :class:`hamnets.hnn.PortHamiltonianNN`): the prior of mechanical systems (kinetic energy
    of the momenta, potential energy of the positions), each network on ``n`` inputs instead
    of ``2n``.

    With a potential that takes time (``V(t, q)``, e.g. a :class:`TimeEnergyMLP` of ``n``), the
    energy is ``H(t, x) = T(p) + V(t, q)`` and is called ``energy(t, x)``.

    Args:
        kinetic: ``T``, ``(batch, n)`` -> ``(batch,)``.
        potential: ``V``, ``(batch, n)`` (or ``t``, ``(batch, n)``) -> ``(batch,)``.

    Attributes:
        in_features: ``2n``.
    """

    time_dependent = False

    def __new__(cls, kinetic: nn.Module | None = None, potential: nn.Module | None = None):
        if cls is SeparableEnergy and potential is not None and takes_time(potential, "V"):
            cls = TimeSeparableEnergy
        return super().__new__(cls)

    def __init__(self, kinetic: nn.Module, potential: nn.Module) -> None:
        super().__init__()
        n = getattr(kinetic, "in_features", None)
        if n is None or getattr(potential, "in_features", n) != n:
            raise ValueError(
                "SeparableEnergy needs kinetic and potential networks of the same n inputs "
                "(read from their in_features)."
            )
        self.kinetic, self.potential = kinetic, potential
        self.in_features = 2 * n
        if takes_time(potential, "the potential") != self.time_dependent:
            raise ValueError(f"{type(self).__name__}: build it as SeparableEnergy(T, V).")

    def _h(self, t: torch.Tensor | None, x: torch.Tensor) -> torch.Tensor:
        n = self.in_features // 2
        if x.ndim != 2 or x.shape[1] != 2 * n:
            raise ValueError(f"SeparableEnergy expects (batch, {2 * n}), got {tuple(x.shape)}.")
        q, p = x[:, :n], x[:, n:]
        v = self.potential(t, q) if self.time_dependent else self.potential(q)
        return _scalar(self.kinetic(p)) + _scalar(v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``T(p) + V(q)``: ``(batch, 2n)`` -> ``(batch,)``."""
        return self._h(None, x)


class TimeSeparableEnergy(SeparableEnergy):
    """``H(t, x) = T(p) + V(t, q)``: a :class:`SeparableEnergy` whose potential takes time
    (built by ``SeparableEnergy(T, V)`` when ``V`` takes ``(t, q)``)."""

    time_dependent = True

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``T(p) + V(t, q)``: ``t`` scalar or ``(batch,)``, ``(batch, 2n)`` -> ``(batch,)``."""
        return self._h(t, x)


def _scalar(out: torch.Tensor) -> torch.Tensor:
    return out.squeeze(-1) if out.ndim == 2 and out.shape[-1] == 1 else out
