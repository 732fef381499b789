"""The port-Hamiltonian contract, for exact and learned port systems alike.

:class:`PortHamiltonianField`: ``dx/dt = (J - R(x)) grad H(t, x) + G(x) u(t)`` with output
``y = G^T grad H``; :class:`PortParts` are the pieces of its energy balance,
:class:`PortFieldWithInput` one bound to an input signal. It builds on the Hamiltonian field
contracts of :mod:`hamnets._field`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import nn

from ._field import _check_dim, _vjp_grad
from ._structure import canonical_j

__all__ = ["PortFieldWithInput", "PortHamiltonianField", "PortParts"]


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
