"""``SeparableHamiltonianNN``: ``H = T(p) + V(q)`` with two learned networks."""

from __future__ import annotations

import torch
from torch import nn

from .._field import SeparableField, _vjp_grad, takes_time


def _scalar(out: torch.Tensor) -> torch.Tensor:
    return out.squeeze(-1) if out.ndim == 2 and out.shape[-1] == 1 else out


class SeparableHamiltonianNN(SeparableField):
    """A learned separable Hamiltonian ``H(q, p) = T_theta(p) + V_phi(q)``.

    Explicit symplectic solvers (symplectic Euler, leapfrog, Yoshida 4) can step it, since
    ``dq/dt = T'(p)`` depends on ``p`` only and ``dp/dt = -V'(q)`` on ``q`` only.

    Either network may depend on time (``T_theta(t, p)``, ``V_phi(t, q)``): a network whose
    ``forward`` has two required positional parameters is called with ``(t, .)``
    (:func:`hamnets._field.takes_time`). If either does, the model is a
    :class:`TimeDependentSeparableHamiltonianNN`, a field ``f(t, x)`` with
    ``dh_dp(t, p)`` and ``dh_dq(t, q)``, which the splitting solvers step as well.

    Args:
        kinetic: network ``T``: momenta ``(batch, n)`` -> ``(batch,)`` or ``(batch, 1)``.
        potential: network ``V``: positions ``(batch, n)`` -> ``(batch,)`` or ``(batch, 1)``.
        n: degrees of freedom; taken from ``kinetic.in_features`` when omitted.
    """

    def __new__(cls, kinetic: nn.Module | None = None, potential=None, n: int | None = None):
        if cls is SeparableHamiltonianNN and kinetic is not None and potential is not None:
            if takes_time(kinetic, "the kinetic energy") or takes_time(
                potential, "the potential energy"
            ):
                cls = TimeDependentSeparableHamiltonianNN
        return super().__new__(cls)

    def __init__(self, kinetic: nn.Module, potential: nn.Module, n: int | None = None) -> None:
        if n is None:
            n = getattr(kinetic, "in_features", None)
            if n is None:
                raise ValueError(
                    "SeparableHamiltonianNN could not read n from the kinetic network "
                    "(it has no in_features); pass n."
                )
        t_kin = takes_time(kinetic, "the kinetic energy")
        t_pot = takes_time(potential, "the potential energy")
        if (t_kin or t_pot) != self.time_dependent:
            raise ValueError(
                f"{type(self).__name__} does not match the time dependence of its networks; "
                "build it as SeparableHamiltonianNN(kinetic, potential)."
            )
        super().__init__(2 * n)
        self.kinetic_net = kinetic
        self.potential_net = potential
        self._kinetic_takes_time, self._potential_takes_time = t_kin, t_pot

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        return _scalar(self.kinetic_net(p))

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        return _scalar(self.potential_net(q))


class TimeDependentSeparableHamiltonianNN(SeparableHamiltonianNN):
    """``H(t, q, p) = T_theta(t, p) + V_phi(t, q)`` (either network may ignore ``t``).

    Built by ``SeparableHamiltonianNN(kinetic, potential)`` when a network takes ``(t, .)``.
    Field ``f(t, x)``: ``t`` a scalar tensor, ``x`` ``(batch, 2n)`` -> ``(batch, 2n)``.
    """

    time_dependent = True

    def kinetic(self, t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return _scalar(self.kinetic_net(t, p) if self._kinetic_takes_time else self.kinetic_net(p))

    def potential(self, t: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        if self._potential_takes_time:
            return _scalar(self.potential_net(t, q))
        return _scalar(self.potential_net(q))

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        n = self.dim // 2
        return self.kinetic(t, x[:, n:]) + self.potential(t, x[:, :n])

    def dh_dp(self, t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``dT/dp (t, p)``: ``(batch, n) -> (batch, n)``."""
        return _vjp_grad(lambda z: self.kinetic(t, z), p, "the kinetic energy")

    def dh_dq(self, t: torch.Tensor, q: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``dV/dq (t, q)``: ``(batch, n) -> (batch, n)``."""
        return _vjp_grad(lambda z: self.potential(t, z), q, "the potential energy")

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``J grad_x H(t, x)``: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        self._check_state(x)
        n = self.dim // 2
        return torch.cat([self.dh_dp(t, x[:, n:]), -self.dh_dq(t, x[:, :n])], dim=1)
