"""Solver base classes: every solver states its order and whether it is symplectic."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from .._field import Field


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


class Solver:
    """A one-step method for the autonomous ODE ``dx/dt = f(x)`` on states ``(batch, dim)``.

    Attributes:
        order: global order of accuracy ``p`` (error ``O(h^p)``).
        symplectic: whether the one-step map preserves ``J`` for Hamiltonian fields.
        needs_separable: whether the field must be a separable ``H = T(p) + V(q)`` (providing
            ``dh_dq(q)`` and ``dh_dp(p)``, see
            :class:`hamnets._field.SeparableField`).
        adaptive: whether the step size is chosen by error control.
    """

    order: ClassVar[int]
    symplectic: ClassVar[bool] = False
    needs_separable: ClassVar[bool] = False
    adaptive: ClassVar[bool] = False

    def step(self, field: Field, x: torch.Tensor, h: float) -> torch.Tensor:
        """One step of size ``h``: ``(batch, dim)`` -> ``(batch, dim)``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


class FixedStepSolver(Solver):
    """A solver with a constant step: each interval between output times is cut into
    ``ceil(interval / dt)`` equal steps (one step per interval when ``dt`` is None).

    Args:
        dt: the largest step size, ``> 0``; ``None`` steps straight from one output time to
            the next.
    """

    def __init__(self, dt: float | None = None) -> None:
        self.dt = _positive(dt, "dt", type(self).__name__, allow_none=True)


class SeparableSolver(FixedStepSolver):
    """A fixed-step splitting method for ``H = T(p) + V(q)``: it calls ``field.dh_dp`` and
    ``field.dh_dq`` on the two halves of ``x = [q, p]``."""

    needs_separable = True

    @staticmethod
    def split(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = x.shape[-1] // 2
        return x[:, :n], x[:, n:]
