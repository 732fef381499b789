"""``SeparableHamiltonianNN``: ``H = T(p) + V(q)`` with two learned networks."""

from __future__ import annotations

import torch
from torch import nn

from .._field import SeparableField


def _scalar(out: torch.Tensor) -> torch.Tensor:
    return out.squeeze(-1) if out.ndim == 2 and out.shape[-1] == 1 else out


class SeparableHamiltonianNN(SeparableField):
    """A learned separable Hamiltonian ``H(q, p) = T_theta(p) + V_phi(q)``.

    Explicit symplectic solvers (symplectic Euler, leapfrog, Yoshida 4) can step it, since
    ``dq/dt = T'(p)`` depends on ``p`` only and ``dp/dt = -V'(q)`` on ``q`` only.

    Args:
        kinetic: network ``T``: momenta ``(batch, n)`` -> ``(batch,)`` or ``(batch, 1)``.
        potential: network ``V``: positions ``(batch, n)`` -> ``(batch,)`` or ``(batch, 1)``.
        n: degrees of freedom; taken from ``kinetic.in_features`` when omitted.
    """

    def __init__(self, kinetic: nn.Module, potential: nn.Module, n: int | None = None) -> None:
        if n is None:
            n = getattr(kinetic, "in_features", None)
            if n is None:
                raise ValueError(
                    "SeparableHamiltonianNN could not read n from the kinetic network "
                    "(it has no in_features); pass n."
                )
        super().__init__(2 * n)
        self.kinetic_net = kinetic
        self.potential_net = potential

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        return _scalar(self.kinetic_net(p))

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        return _scalar(self.potential_net(q))
