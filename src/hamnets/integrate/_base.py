"""Solver base classes: every solver states its order and whether it is symplectic."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, ClassVar

import torch

from .._field import Field, TimedField, timed


def _positive(value: object, name: str, who: str, *, allow_none: bool = False) -> float | None:
    if value is None and allow_none:
        return None
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        v = float("nan")
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{who}: {name} must be a finite number > 0, got {value!r}.")
    return v


def _count(value: object, name: str, who: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{who}: {name} must be an integer >= 1, got {value!r}.")
    return value


class Solver:
    """A one-step method for ``dx/dt = f(t, x)`` (or autonomous ``f(x)``) on states
    ``(batch, dim)``.

    Attributes:
        order: global order of accuracy ``p`` (error ``O(h^p)``).
        symplectic: whether the one-step map preserves ``J`` for Hamiltonian fields.
        needs_separable: whether the field must be a separable ``H = T(p) + V(q)`` (providing
            ``dh_dq`` and ``dh_dp``, see :class:`hamnets._field.SeparableField`; time-dependent
            ``T(t, p) + V(t, q)`` too).
        adaptive: whether the step size is chosen by error control.
        max_steps: steps allowed in one :func:`odeint` call before a ``ValueError``.
    """

    order: ClassVar[int]
    symplectic: ClassVar[bool] = False
    needs_separable: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False
    max_steps: int

    def step(
        self, field: Field | TimedField, x: torch.Tensor, h: float, t: float = 0.0
    ) -> torch.Tensor:
        """One step of size ``h`` (negative: backwards) from time ``t``:
        ``(batch, dim)`` -> ``(batch, dim)``. ``field`` follows the calling rule of
        :func:`hamnets._field.takes_time` (``f(t, x)`` or ``f(x)``)."""
        return self._advance(timed(field), t, x, h, None)[0]

    def _advance(
        self, f: TimedField, t: float, x: torch.Tensor, h: float, carry: Any
    ) -> tuple[torch.Tensor, Any]:
        """One step from ``(t, x)``; ``carry`` is what the previous step handed on (first same
        as last: a value of the field at ``(t, x)`` that this step need not evaluate again),
        ``None`` at the start. Returns the new state and the carry for the next step."""
        raise NotImplementedError

    def _advance_dense(
        self,
        f: TimedField,
        t: float,
        x: torch.Tensor,
        h: float,
        carry: Any,
        thetas: Sequence[float],
    ) -> tuple[torch.Tensor, Any, list[torch.Tensor]]:
        """:meth:`_advance` plus the states at ``t + theta h`` for ``theta`` in ``thetas``;
        fixed-step solvers land on their output times, so only ``theta = 1`` is asked of them."""
        x_new, carry = self._advance(f, t, x, h, carry)
        return x_new, carry, [x_new for _ in thetas]

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class FixedStepSolver(Solver):
    """A solver with a constant step: each interval between output times is cut into
    ``ceil(|interval| / dt)`` equal steps (one step per interval when ``dt`` is None).

    A subclass implements ``_step(f, t, x, h)`` on a :class:`~hamnets._field.TimedField`
    ``f(t, x)``, or ``_advance`` when a step hands a field value on to the next (leapfrog).

    Args:
        dt: the largest step size, ``> 0``; ``None`` steps straight from one output time to
            the next.
        max_steps: the most steps one :func:`odeint` call may take; the count is known before
            the first step, so a call that would exceed it raises before doing any work.
    """

    def __init__(self, dt: float | None = None, max_steps: int = 10_000_000) -> None:
        self.dt = _positive(dt, "dt", type(self).__name__, allow_none=True)
        self.max_steps = _count(max_steps, "max_steps", type(self).__name__)

    def _advance(self, f, t, x, h, carry):
        return self._step(f, t, x, h), None

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        """One step without carry: ``(batch, dim)`` -> ``(batch, dim)``."""
        raise NotImplementedError


class SeparableSolver(FixedStepSolver):
    """A fixed-step splitting method for ``H = T(p) + V(q)`` (or ``T(t, p) + V(t, q)``): it
    calls ``field.dh_dp`` and ``field.dh_dq`` on the two halves of ``x = [q, p]``."""

    needs_separable = True

    @staticmethod
    def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[-1] // 2
        return x[:, :n], x[:, n:]
