"""Ground-truth Hamiltonian systems: exact ``H`` and analytic gradients, no parameters."""

from __future__ import annotations

import torch

from .._field import SeparableField


class HamiltonianSystem(SeparableField):
    """A known separable Hamiltonian ``H(q, p) = T(p) + V(q)`` with closed-form gradients.

    It is a :class:`hamnets.hnn.SeparableField`, so it plugs into every integrator exactly like
    a learned model, and its field ``J grad H`` needs no autograd. Subclasses provide
    :meth:`kinetic`, :meth:`potential`, :meth:`dh_dp` and :meth:`dh_dq`.

    Attributes:
        name: the ``--system`` name.
    """

    name: str = ""

    def __init__(self, n: int) -> None:
        super().__init__(2 * n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``J grad H(x)`` in closed form: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        self._check_state(x)
        n = self.dim // 2
        return torch.cat([self.dh_dp(x[:, n:]), -self.dh_dq(x[:, :n])], dim=1)
