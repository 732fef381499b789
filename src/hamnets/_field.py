"""The field contracts that systems, HNNs and integrators all speak, stated once.

* :data:`Field`: anything an integrator can step, a callable ``f(x)`` on states
  ``(batch, dim)``.
* :class:`HamiltonianField`: a scalar ``H`` and its field ``J grad H`` on states ``x = [q, p]``.
* :class:`SeparableField`: ``H = T(p) + V(q)``, whose partial gradients explicit symplectic
  solvers call apart.

Exact systems (:mod:`hamnets.systems`), learned models (:mod:`hamnets.hnn`) and solvers
(:mod:`hamnets.integrate`) import these from here; none of them imports another for them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ._structure import canonical_j

__all__ = ["Field", "HamiltonianField", "SeparableField"]

#: a vector field an integrator steps: states ``(batch, dim)`` -> time derivatives, same shape.
Field = Callable[[torch.Tensor], torch.Tensor]


def _check_dim(dim: object, who: str) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 2 or dim % 2:
        raise ValueError(
            f"{who}: the state x = [q, p] needs an even dimension 2n >= 2, got dim={dim!r}."
        )
    return dim


class HamiltonianField(nn.Module):
    """A vector field ``dx/dt = J grad H(x)`` on states ``x = [q, p]`` of shape ``(batch, 2n)``.

    With ``J = [[0, I], [-I, 0]]`` (:func:`hamnets.canonical_j`) the field reads
    ``dq/dt = dH/dp`` and ``dp/dt = -dH/dq``. Subclasses provide :meth:`hamiltonian`; the
    gradient is one batched vector-Jacobian product of ``sum_b H(x_b)`` with respect to ``x``
    (the samples are independent, so this is every per-sample gradient at once). The graph of
    that gradient is kept (``create_graph=True``) only when autograd is recording, i.e. when a
    loss on the field will be differentiated; under ``torch.no_grad()`` the field is a plain
    tensor and rollouts cost one forward and one backward pass per evaluation.

    Args:
        dim: state dimension ``2n`` (even).
    """

    #: True when ``H = T(p) + V(q)``; explicit symplectic solvers need :meth:`dh_dq`/:meth:`dh_dp`.
    separable: bool = False

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = _check_dim(dim, type(self).__name__)
        self.register_buffer("J", canonical_j(dim), persistent=False)

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        """``H(x)``: states ``(batch, 2n)`` -> energies ``(batch,)``."""
        raise NotImplementedError

    def grad_h(self, x: torch.Tensor) -> torch.Tensor:
        """``grad H(x)`` of shape ``(batch, 2n)`` by one batched vector-Jacobian product."""
        self._check_state(x)
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            xg = x if x.requires_grad else x.detach().requires_grad_(True)
            h = self.hamiltonian(xg)  # (batch,)
            if h.shape != x.shape[:1]:
                raise ValueError(
                    f"{type(self).__name__}.hamiltonian must return one scalar per sample, "
                    f"shape ({x.shape[0]},), got {tuple(h.shape)}."
                )
            (grad,) = torch.autograd.grad(h.sum(), xg, create_graph=create_graph)
        return grad  # (batch, 2n)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The field ``J grad H(x)``: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        return self.grad_h(x) @ self.J.to(x.dtype).T  # rows: (J g)^T = g J^T

    def _check_state(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{type(self).__name__} expects states of shape (batch, {self.dim}), "
                f"got {tuple(x.shape)}; add a batch dimension with x[None] for one state."
            )


class SeparableField(HamiltonianField):
    """A Hamiltonian ``H(q, p) = T(p) + V(q)``, whose two partial gradients are cheap apart.

    Subclasses provide :meth:`kinetic` and :meth:`potential` (each ``(batch, n) -> (batch,)``);
    :meth:`dh_dp` and :meth:`dh_dq` are what explicit symplectic solvers (symplectic Euler,
    leapfrog, Yoshida) call.
    """

    separable = True

    def kinetic(self, p: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def potential(self, q: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        n = self.dim // 2
        return self.kinetic(x[:, n:]) + self.potential(x[:, :n])

    @staticmethod
    def _partial(fn, z: torch.Tensor) -> torch.Tensor:
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            zg = z if z.requires_grad else z.detach().requires_grad_(True)
            (grad,) = torch.autograd.grad(fn(zg).sum(), zg, create_graph=create_graph)
        return grad

    def dh_dp(self, p: torch.Tensor) -> torch.Tensor:
        """``dT/dp``: ``(batch, n) -> (batch, n)``."""
        return self._partial(self.kinetic, p)

    def dh_dq(self, q: torch.Tensor) -> torch.Tensor:
        """``dV/dq``: ``(batch, n) -> (batch, n)``."""
        return self._partial(self.potential, q)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_state(x)
        n = self.dim // 2
        return torch.cat([self.dh_dp(x[:, n:]), -self.dh_dq(x[:, :n])], dim=1)
