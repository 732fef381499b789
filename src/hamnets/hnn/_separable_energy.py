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


class QuadraticEnergy(nn.Module):
    """A network plus a learned positive semi-definite quadratic form:
    ``H(x) = net(x) + |L^T x|^2 / 2`` with ``L`` ``(2n, 2n)`` (starting at ``0.1 I``).

    The harmonic approximation as a prior for how the energy grows where the data end: a tanh
    network's output saturates away from the states it was fitted on (its forces fade to
    zero), while the quadratic term keeps the restoring forces of a spring-like system. Inside
    the data the network corrects it freely.

    Args:
        net: the energy network ``(batch, 2n)`` -> ``(batch,)`` (its ``in_features`` is ``2n``).

    Attributes:
        in_features: ``2n``.
        quadratic_factor: ``L``.
    """

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        dim = getattr(net, "in_features", None)
        if not isinstance(dim, int) or takes_time(net, "the energy"):
            raise ValueError("QuadraticEnergy needs an energy network of x with in_features.")
        self.net, self.in_features = net, dim
        # 0.1 I: at L = 0 the form's gradient in L vanishes (x x^T L), it would never move
        self.quadratic_factor = nn.Parameter(0.1 * torch.eye(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``net(x) + |L^T x|^2 / 2``: ``(batch, 2n)`` -> ``(batch,)``."""
        quad = 0.5 * (x @ self.quadratic_factor.to(x.dtype)).pow(2).sum(-1)  # (batch,)
        return _scalar(self.net(x)) + quad
