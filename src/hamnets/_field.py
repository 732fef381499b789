"""The field contracts that systems, HNNs and integrators all speak, stated once.

* :data:`Field`: anything an integrator can step, a callable ``f(t, x)`` or ``f(x)`` on states
  ``(batch, dim)``; :func:`takes_time` is the rule that tells the two apart.
* :class:`HamiltonianField`: a scalar ``H`` and its field ``J grad H`` on states ``x = [q, p]``;
  :class:`TimeDependentHamiltonianField` the same for ``H(t, x)``.
* :class:`SeparableField`: ``H = T(p) + V(q)``, whose partial gradients explicit symplectic
  solvers call apart; :class:`TimeDependentSeparableField` for ``H = T(t, p) + V(t, q)``.
* :class:`TimedField`: any field seen through the rule as ``f(t, x)`` (what solvers call).
* :class:`PortHamiltonianField`: ``dx/dt = (J - R(x)) grad H(t, x) + G(x) u(t)`` with output
  ``y = G^T grad H``, for exact and learned port systems alike; :class:`PortParts` are the
  pieces of its energy balance, :class:`PortFieldWithInput` one bound to an input signal.

Exact systems (:mod:`hamnets.systems`), learned models (:mod:`hamnets.hnn`) and solvers
(:mod:`hamnets.integrate`) import these from here; none of them imports another for them.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from ._structure import canonical_j

__all__ = [
    "Field",
    "HamiltonianField",
    "PortHamiltonianField",
    "PortFieldWithInput",
    "PortParts",
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


class PortParts(NamedTuple):
    """The pieces of a port-Hamiltonian field at ``(t, x)``, shapes for states ``(batch, 2n)``
    and ``m`` inputs.

    Attributes:
        dxdt: the field ``(J - R) grad H + G u`` ``(batch, 2n)``.
        grad_h: ``grad_x H(t, x)`` ``(batch, 2n)``.
        r_grad_h: ``R(x) grad H`` ``(batch, 2n)``.
        u: the input ``(batch, m)``.
        y: the port output ``G(x)^T grad H`` ``(batch, m)``.
    """

    dxdt: torch.Tensor
    grad_h: torch.Tensor
    r_grad_h: torch.Tensor
    u: torch.Tensor
    y: torch.Tensor

    @property
    def dissipated_power(self) -> torch.Tensor:
        """``grad H^T R grad H >= 0`` ``(batch,)``: the power the dissipation removes."""
        return (self.grad_h * self.r_grad_h).sum(-1)

    @property
    def supplied_power(self) -> torch.Tensor:
        """``y^T u`` ``(batch,)``: the power the input supplies."""
        return (self.y * self.u).sum(-1)


def _check_inputs(inputs: object, who: str) -> int:
    if not isinstance(inputs, int) or isinstance(inputs, bool) or inputs < 0:
        raise ValueError(f"{who}: inputs must be the input dimension m >= 0, got {inputs!r}.")
    return inputs


class PortHamiltonianField(nn.Module):
    """A port-Hamiltonian field on states ``x = [q, p]`` ``(batch, 2n)`` with ``m`` inputs:

        ``dx/dt = (J - R(x)) grad_x H(t, x) + G(x) u(t)``,    ``y = G(x)^T grad_x H(t, x)``,

    ``J`` canonical (:func:`hamnets.canonical_j`), ``R(x)`` symmetric positive semi-definite
    ``(batch, 2n, 2n)``, ``G(x)`` ``(batch, 2n, m)``, ``u(t)`` a known input ``(batch, m)``
    (or ``(1, m)``, shared by the batch). Along any solution, for ``H`` without explicit time,
    ``dH/dt = -grad H^T R grad H + y^T u <= y^T u`` (van der Schaft and Jeltsema,
    *Port-Hamiltonian Systems Theory*, 2014, section 2.2): no energy is created from nothing.
    With ``R = 0`` and ``m = 0`` it is the Hamiltonian field ``J grad H``.

    The field is called ``f(t, x)`` (the calling rule of :func:`takes_time`), the input bound
    by ``signal`` (any callable ``u(t) -> (batch, m)``, e.g. a :mod:`hamnets.controls`
    signal) or by :meth:`with_input`. :meth:`field` takes the input value explicitly,
    :meth:`parts` returns the pieces of the energy balance (:class:`PortParts`).

    Subclasses provide :meth:`hamiltonian` ``(t, x) -> (batch,)`` (``t`` is passed even when
    ``H`` ignores it; set :attr:`explicit_time` when it does not), and override
    :meth:`dissipation_factor` and :meth:`input_matrix` (defaults: ``R = 0``, ``G = 0``);
    :meth:`grad_h` may be overridden by a closed form.

    Args:
        dim: state dimension ``2n``.
        inputs: input dimension ``m >= 0``.
        signal: the input ``u(t)``; required for :meth:`forward` when ``m > 0``.
    """

    #: True when ``H`` depends on ``t`` explicitly (then ``dH/dt`` has a term ``partial_t H``).
    explicit_time: bool = False
    #: the contract is ``f(t, x)``; no separable splitting of a dissipative field.
    time_dependent: bool = True
    separable: bool = False

    def __init__(self, dim: int, inputs: int = 0, signal: Callable | None = None) -> None:
        super().__init__()
        who = type(self).__name__
        self.dim = _check_dim(dim, who)
        self.inputs = _check_inputs(inputs, who)
        if signal is not None and not callable(signal):
            raise ValueError(f"{who}: the signal must be callable as u(t), got {signal!r}.")
        if signal is not None and self.inputs == 0:
            raise ValueError(f"{who} has no inputs (m = 0); build it with inputs=m to drive it.")
        self.signal = signal
        self.register_buffer("J", canonical_j(dim), persistent=False)

    # --- the three ingredients -------------------------------------------------------------
    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``H(t, x)``: a scalar time and states ``(batch, 2n)`` -> energies ``(batch,)``."""
        raise NotImplementedError

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``grad_x H(t, x)`` ``(batch, 2n)`` (one batched vector-Jacobian product)."""
        self._check_state(x)
        return _vjp_grad(lambda z: self.hamiltonian(t, z), x, f"{type(self).__name__}.hamiltonian")

    def dh_dt_explicit(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``partial_t H(t, x)`` ``(batch,)``: zero unless :attr:`explicit_time`, else one
        forward-mode derivative in ``t`` (per sample, unlike a backward pass through the
        shared scalar ``t``). With it, ``dH/dt = partial_t H - grad H^T R grad H + y^T u``."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if not self.explicit_time:
            return x.new_zeros(x.shape[0])
        create_graph = torch.is_grad_enabled()
        with torch.enable_grad():
            # forward mode by two backward passes: g(v) = sum_b v_b dH_b/dt is linear in v,
            # so dg/dv = (dH_b/dt)_b
            tt = t if (t.requires_grad and create_graph) else t.detach().requires_grad_(True)
            h = self.hamiltonian(tt, x)  # (batch,)
            v = torch.zeros_like(h, requires_grad=True)
            (g,) = torch.autograd.grad(h, tt, grad_outputs=v, create_graph=True, allow_unused=True)
            if g is None:  # H ignores t after all
                return x.new_zeros(x.shape[0])
            (dh,) = torch.autograd.grad(g, v, create_graph=create_graph)
        return dh

    def dissipation_factor(self, x: torch.Tensor) -> torch.Tensor | None:
        """``L(x)`` ``(batch, 2n, r)`` with ``R = L L^T``, or ``None`` for ``R = 0``."""
        return None

    def input_matrix(self, x: torch.Tensor) -> torch.Tensor:
        """``G(x)`` ``(batch, 2n, m)``."""
        return x.new_zeros(x.shape[0], self.dim, self.inputs)

    # --- derived ---------------------------------------------------------------------------
    def dissipation_matrix(self, x: torch.Tensor) -> torch.Tensor:
        """``R(x) = L L^T`` ``(batch, 2n, 2n)``, symmetric positive semi-definite."""
        factor = self.dissipation_factor(x)
        if factor is None:
            return x.new_zeros(x.shape[0], self.dim, self.dim)
        return factor @ factor.transpose(1, 2)

    def dissipate(self, x: torch.Tensor, v: torch.Tensor) -> torch.Tensor | None:
        """``R(x) v = L (L^T v)`` ``(batch, 2n)`` for ``v`` ``(batch, 2n)``; ``None`` if
        ``R = 0``."""
        factor = self.dissipation_factor(x)
        if factor is None:
            return None
        w = (v[:, None, :] @ factor)[:, 0]  # (batch, r) = L^T v
        return (factor @ w[:, :, None])[..., 0]  # (batch, 2n)

    def input(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The bound input ``u(t)`` ``(batch, m)`` for states ``x`` ``(batch, 2n)``."""
        if self.inputs == 0:
            return x.new_zeros(x.shape[0], 0)
        if self.signal is None:
            raise ValueError(
                f"{type(self).__name__} takes m={self.inputs} inputs but none is bound; "
                "pass signal=u at construction or integrate model.with_input(u)."
            )
        return self.signal(t)

    def _check_input(self, u: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if u.ndim != 2 or u.shape[1] != self.inputs or u.shape[0] not in (1, x.shape[0]):
            raise ValueError(
                f"{type(self).__name__}: the input must have shape ({x.shape[0]}, "
                f"{self.inputs}) or (1, {self.inputs}) for states {tuple(x.shape)}, got "
                f"{tuple(u.shape)}; give one input trajectory per state."
            )
        return u.to(dtype=x.dtype, device=x.device)

    def parts(self, t: torch.Tensor, x: torch.Tensor, u: torch.Tensor | None = None) -> PortParts:
        """The field and the pieces of its energy balance at ``(t, x)`` (:class:`PortParts`);
        ``u`` ``(batch, m)`` defaults to the bound input ``u(t)``."""
        self._check_state(x)
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        u = self._check_input(self.input(t, x) if u is None else u, x)
        g = self.grad_h(t, x)  # (batch, 2n)
        dxdt = g @ self.J.to(x.dtype).T  # rows: (J g)^T = g J^T
        rg = self.dissipate(x, g)
        if rg is None:
            rg = torch.zeros_like(g)
        else:
            dxdt = dxdt - rg
        if self.inputs:
            gmat = self.input_matrix(x)  # (batch, 2n, m)
            dxdt = dxdt + (gmat @ u.expand(x.shape[0], -1)[:, :, None])[..., 0]
            y = (g[:, None, :] @ gmat)[:, 0]  # (batch, m) = G^T grad H
        else:
            y = x.new_zeros(x.shape[0], 0)
        return PortParts(dxdt, g, rg, u.expand(x.shape[0], -1), y)

    def field(self, t: torch.Tensor, x: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        """``(J - R) grad H + G u`` ``(batch, 2n)`` with an explicit input ``u`` ``(batch, m)``
        (``None`` when ``m = 0``)."""
        return self.parts(t, x, u).dxdt

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The field ``f(t, x)`` driven by the bound input: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        return self.parts(t, x).dxdt

    def with_input(self, signal: Callable) -> PortFieldWithInput:
        """This field driven by ``signal`` ``u(t) -> (batch, m)``: a field ``f(t, x)`` sharing
        this one's parameters (what ``odeint`` integrates)."""
        return PortFieldWithInput(self, signal)

    def _check_state(self, x: torch.Tensor) -> None:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"{type(self).__name__} expects states of shape (batch, {self.dim}), "
                f"got {tuple(x.shape)}; add a batch dimension with x[None] for one state."
            )


class PortFieldWithInput(nn.Module):
    """A :class:`PortHamiltonianField` driven by an input signal: the field ``f(t, x)``.

    Built by :meth:`PortHamiltonianField.with_input`; the port's parameters are this module's
    (so ``odeint`` differentiates them), and :meth:`parts` and :meth:`hamiltonian` read through.

    Attributes:
        port: the port-Hamiltonian field.
        signal: ``u(t) -> (batch, m)``.
    """

    time_dependent = True
    separable = False

    def __init__(self, port: PortHamiltonianField, signal: Callable) -> None:
        super().__init__()
        if not isinstance(port, PortHamiltonianField):
            raise ValueError(f"with_input needs a PortHamiltonianField, got {type(port).__name__}.")
        if not callable(signal):
            raise ValueError(f"the signal must be callable as u(t), got {signal!r}.")
        if port.inputs == 0:
            raise ValueError(f"{type(port).__name__} has no inputs (m = 0) to drive.")
        self.port = port
        self.signal = signal
        self.dim, self.inputs = port.dim, port.inputs

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``H(t, x)`` ``(batch,)`` of the port."""
        return self.port.hamiltonian(t, x)

    def dh_dt_explicit(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``partial_t H(t, x)`` ``(batch,)`` of the port."""
        return self.port.dh_dt_explicit(t, x)

    def parts(self, t: torch.Tensor, x: torch.Tensor) -> PortParts:
        """The port's :meth:`~PortHamiltonianField.parts` at the signal's ``u(t)``."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        return self.port.parts(t, x, self.signal(t))

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(J - R) grad H + G u(t)``: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        return self.parts(t, x).dxdt
