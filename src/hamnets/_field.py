"""The field contracts that systems, HNNs and integrators all speak, stated once.

* :data:`Field`: anything an integrator can step, a callable ``f(t, x)`` or ``f(x)`` on states
  ``(batch, dim)``; :func:`takes_time` is the rule that tells the two apart.
* :class:`HamiltonianField`: a scalar ``H`` and its field ``J grad H`` on states ``x = [q, p]``;
  :class:`TimeDependentHamiltonianField` the same for ``H(t, x)``.
* :class:`SeparableField`: ``H = T(p) + V(q)``, whose partial gradients explicit symplectic
  solvers call apart; :class:`TimeDependentSeparableField` for ``H = T(t, p) + V(t, q)``.
* :class:`TimedField`: any field seen through the rule as ``f(t, x)`` (what solvers call).
* the port-Hamiltonian contract (dissipation and inputs) is in :mod:`hamnets._port_field`.

Exact systems (:mod:`hamnets.systems`), learned models (:mod:`hamnets.hnn`) and solvers
(:mod:`hamnets.integrate`) import these from here; none of them imports another for them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch
from torch import nn

from ._structure import canonical_j

__all__ = [
    "Field",
    "HamiltonianField",
    "SeparableField",
    "TimeDependentHamiltonianField",
    "TimeDependentSeparableField",
    "TimedField",
    "takes_time",
]

#: a vector field an integrator steps: ``f(t, x)`` (``t`` a scalar tensor) or autonomous
#: ``f(x)``, states ``(batch, dim)`` -> time derivatives of the same shape.
Field = Callable[..., torch.Tensor]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def takes_time(fn: object, what: str = "the field") -> bool:
    """The calling rule: ``True`` when ``fn`` is called as ``fn(t, x)``, ``False`` for ``fn(x)``.

    ``fn`` is a function (or any callable) or an ``nn.Module``, whose ``forward`` is read. Its
    *required* positional parameters decide (parameters with defaults, ``*args`` and
    ``**kwargs`` do not count): two mean ``(t, x)`` in torchdiffeq's order, one means
    ``(x)``. Anything else raises a one-line ``ValueError``.
    """
    target = fn.forward if isinstance(fn, nn.Module) else fn
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    if not callable(target):
        raise ValueError(f"{what} must be callable as f(t, x) or f(x), got {name}.")
    try:
        params = inspect.signature(target).parameters.values()
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} ({name}) has no readable signature; wrap it as def f(t, x) or def f(x)."
        ) from None
    required = [p.name for p in params if p.kind in _POSITIONAL and p.default is p.empty]
    kw_only = [p.name for p in params if p.kind is p.KEYWORD_ONLY and p.default is p.empty]
    if len(required) in (1, 2) and not kw_only:
        return len(required) == 2
    raise ValueError(
        f"{what} ({name}) must take two required positional parameters (t, x) or one (x); "
        f"it requires {required + kw_only or 'none'}."
    )


class TimedField:
    """``field`` seen through :func:`takes_time` as ``f(t, x)``: the form solvers call.

    ``t`` is a Python number; a time-dependent field receives it as a scalar tensor of the
    state's dtype and device. A separable field's ``dh_dq`` and ``dh_dp`` are read by the same
    rule (``(t, q)`` or ``(q)``). The rule is applied once, here.

    Attributes:
        field: the wrapped callable.
        time_dependent: whether ``field`` takes ``t``.
        separable: whether ``field`` provides ``dh_dq``/``dh_dp`` (``field.separable``).
    """

    def __init__(self, field: Field) -> None:
        self.field = field
        self.time_dependent = takes_time(field)
        self.separable = bool(getattr(field, "separable", False))
        self._q_t = self._p_t = False
        if self.separable:
            self._q_t = takes_time(field.dh_dq, "the field's dh_dq")
            self._p_t = takes_time(field.dh_dp, "the field's dh_dp")

    @staticmethod
    def _t(t: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(t, dtype=like.dtype, device=like.device)

    def __call__(self, t: float, x: torch.Tensor) -> torch.Tensor:
        return self.field(self._t(t, x), x) if self.time_dependent else self.field(x)

    def dh_dq(self, t: float, q: torch.Tensor) -> torch.Tensor:
        return self.field.dh_dq(self._t(t, q), q) if self._q_t else self.field.dh_dq(q)

    def dh_dp(self, t: float, p: torch.Tensor) -> torch.Tensor:
        return self.field.dh_dp(self._t(t, p), p) if self._p_t else self.field.dh_dp(p)


def timed(field: Field | TimedField) -> TimedField:
    """``field`` as a :class:`TimedField` (unchanged when it is one already)."""
    return field if isinstance(field, TimedField) else TimedField(field)


def _check_dim(dim: object, who: str) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool) or dim < 2 or dim % 2:
        raise ValueError(
            f"{who}: the state x = [q, p] needs an even dimension 2n >= 2, got dim={dim!r}."
        )
    return dim


def _vjp_grad(fn: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor, who: str):
    """``grad_z sum_b fn(z)_b`` for per-sample scalars ``fn(z)`` ``(batch,)``; the graph of the
    gradient is kept only when autograd is recording (then a loss on it can be differentiated).
    """
    create_graph = torch.is_grad_enabled()
    with torch.enable_grad():
        # under no_grad a view of a leaf that requires grad still says requires_grad but is
        # not connected to it: differentiate a detached copy then (only the value is wanted)
        zg = z if (z.requires_grad and create_graph) else z.detach().requires_grad_(True)
        h = fn(zg)
        if h.shape != z.shape[:1]:
            raise ValueError(
                f"{who} must return one scalar per sample, shape ({z.shape[0]},), "
                f"got {tuple(h.shape)}."
            )
        if not h.requires_grad:
            raise ValueError(f"{who} does not depend on the state: its gradient is undefined.")
        (grad,) = torch.autograd.grad(h.sum(), zg, create_graph=create_graph, allow_unused=True)
    if grad is None:
        raise ValueError(
            f"{who} does not depend on the state (its output is not a function of x), so it "
            "has no gradient and defines no dynamics; check the network."
        )
    return grad


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
    #: True for ``H(t, x)``: then the field is called as ``f(t, x)``.
    time_dependent: bool = False

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
        return _vjp_grad(self.hamiltonian, x, f"{type(self).__name__}.hamiltonian")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The field ``J grad H(x)``: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        return self.grad_h(x) @ self.J.to(x.dtype).T  # rows: (J g)^T = g J^T

    def _check_state(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{type(self).__name__} expects states of shape (batch, {self.dim}), "
                f"got {tuple(x.shape)}; add a batch dimension with x[None] for one state."
            )


class TimeDependentHamiltonianField(HamiltonianField):
    """A field ``dx/dt = J grad_x H(t, x)`` for a time-dependent Hamiltonian ``H(t, x)``.

    Called as ``f(t, x)`` (``t`` a scalar tensor, ``x`` ``(batch, 2n)``); ``H`` is no longer
    conserved. Subclasses provide :meth:`hamiltonian` ``(t, x) -> (batch,)``.
    """

    time_dependent = True

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``H(t, x)``: a scalar time and states ``(batch, 2n)`` -> energies ``(batch,)``."""
        raise NotImplementedError

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``grad_x H(t, x)`` ``(batch, 2n)``."""
        self._check_state(x)
        return _vjp_grad(lambda z: self.hamiltonian(t, z), x, f"{type(self).__name__}.hamiltonian")

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """The field ``J grad_x H(t, x)``: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        return self.grad_h(t, x) @ self.J.to(x.dtype).T


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
        return _vjp_grad(fn, z, "the kinetic or potential energy")

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


class TimeDependentSeparableField(TimeDependentHamiltonianField):
    """A time-dependent separable Hamiltonian ``H(t, q, p) = T(t, p) + V(t, q)``.

    Subclasses provide :meth:`kinetic` and :meth:`potential` (``(t, (batch, n)) -> (batch,)``);
    explicit symplectic solvers call :meth:`dh_dp` ``(t, p)`` and :meth:`dh_dq` ``(t, q)``.
    """

    separable = True

    def kinetic(self, t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def potential(self, t: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        n = self.dim // 2
        return self.kinetic(t, x[:, n:]) + self.potential(t, x[:, :n])

    def dh_dp(self, t: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """``dT/dp (t, p)``: ``(batch, n) -> (batch, n)``."""
        return _vjp_grad(lambda z: self.kinetic(t, z), p, "the kinetic energy")

    def dh_dq(self, t: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """``dV/dq (t, q)``: ``(batch, n) -> (batch, n)``."""
        return _vjp_grad(lambda z: self.potential(t, z), q, "the potential energy")

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        self._check_state(x)
        n = self.dim // 2
        return torch.cat([self.dh_dp(t, x[:, n:]), -self.dh_dq(t, x[:, :n])], dim=1)
