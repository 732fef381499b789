"""``PeriodicEnergy``: an energy network made exactly ``2 pi`` periodic in angle coordinates."""

from __future__ import annotations

import torch
from torch import nn

from .._field import takes_time


class PeriodicEnergy(nn.Module):
    """``H(x) = h(cos a, sin a, r)`` for states ``x = [a, r]``: the first ``angles``
    coordinates ``a`` are angles, the rest ``r`` pass through.

    Then ``H(a + 2 pi k, r) = H(a, r)`` holds for every integer vector ``k``, whatever the
    weights of ``h``: the embedding of an angle on the unit circle of Symplectic ODE-Net
    (Zhong, Dey and Chakraborty, ICLR 2020). A prior the user asserts about the true system
    (the positions of a pendulum are angles), not something learned. For states
    ``x = [q, p]`` with every ``q_i`` an angle, ``angles = n`` and ``h`` reads
    ``(cos q, sin q, p)`` (``3n`` inputs); for a potential ``V(q)``, ``h`` reads
    ``(cos q, sin q)`` (``2n`` inputs).

    The gradient is the chain rule through the embedding:
    ``dH/da = -sin a * dh/dc + cos a * dh/ds`` and ``dH/dr = dh/dr``; when ``h`` has a
    closed-form input gradient (a tanh :class:`EnergyMLP`), :meth:`input_gradient` uses it.

    With an ``h`` of time and state (``h(t, .)``, a :class:`TimeEnergyMLP`), the energy is
    ``H(t, x) = h(t, cos a, sin a, r)``, called ``energy(t, x)``
    (:class:`TimePeriodicEnergy`, built by ``PeriodicEnergy(h, angles)``).

    Args:
        energy: the network ``h``: ``(batch, dim + angles)`` -> ``(batch,)`` (or
            ``(batch, 1)``); its ``in_features`` is ``dim + angles``.
        angles: how many leading coordinates are angles (``1 <= angles <= dim``).

    Attributes:
        in_features: ``dim``, the width of the states ``x``.
        angles: ``angles``.
    """

    time_dependent = False

    def __new__(cls, energy: nn.Module | None = None, angles: int | None = None):
        if cls is PeriodicEnergy and energy is not None and takes_time(energy, "the energy"):
            cls = TimePeriodicEnergy
        return super().__new__(cls)

    def __init__(self, energy: nn.Module, angles: int) -> None:
        super().__init__()
        if not isinstance(angles, int) or isinstance(angles, bool) or angles < 1:
            raise ValueError(f"angles must be a positive integer, got {angles!r}.")
        width = getattr(energy, "in_features", None)
        if not isinstance(width, int) or width < 2 * angles:
            raise ValueError(
                f"the energy reads (cos a, sin a, rest): it needs in_features >= 2 * angles = "
                f"{2 * angles}, got {width!r}."
            )
        if takes_time(energy, "the energy") != self.time_dependent:
            raise ValueError(f"{type(self).__name__}: build it as PeriodicEnergy(h, angles).")
        self.energy = energy
        self.angles = angles
        self.in_features = width - angles

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """``[a, r]`` ``(batch, dim)`` -> ``[cos a, sin a, r]`` ``(batch, dim + angles)``."""
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"PeriodicEnergy expects states (batch, {self.in_features}), got {tuple(x.shape)}."
            )
        a = x[:, : self.angles]  # (batch, angles)
        return torch.cat([torch.cos(a), torch.sin(a), x[:, self.angles :]], dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``H(x)``: ``(batch, dim)`` -> ``(batch,)`` (the shape ``h`` returns)."""
        return self.energy(self.embed(x))

    @property
    def has_closed_form_gradient(self) -> bool:
        return bool(getattr(self.energy, "has_closed_form_gradient", False))

    def input_gradient(self, x: torch.Tensor) -> torch.Tensor:
        """``grad H(x)`` ``(batch, dim)`` from ``h``'s closed-form gradient at the embedding."""
        k = self.angles
        g = self.energy.input_gradient(self.embed(x))  # (batch, dim + angles)
        a = x[:, :k]  # (batch, angles)
        ga = torch.cos(a) * g[:, k : 2 * k] - torch.sin(a) * g[:, :k]  # (batch, angles)
        return torch.cat([ga, g[:, 2 * k :]], dim=1)  # (batch, dim)


class TimePeriodicEnergy(PeriodicEnergy):
    """``H(t, x) = h(t, cos a, sin a, r)``: a :class:`PeriodicEnergy` whose network takes
    time (built by ``PeriodicEnergy(h, angles)`` when ``h`` takes ``(t, x)``)."""

    time_dependent = True

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``H(t, x)``: ``t`` scalar or ``(batch,)``, ``(batch, dim)`` -> ``(batch,)``."""
        return self.energy(t, self.embed(x))

    @property
    def has_closed_form_gradient(self) -> bool:
        return False
