"""How ``odeint`` is differentiated: the strategy objects' common base."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from .._field import TimedField
from ._base import Solver
from ._plan import Step


class Gradient:
    """A way to differentiate a solve, passed as ``odeint(..., gradient=...)``.

    ``gradient=None`` (the default) back-propagates through every stage of every step: the
    memory of the graph grows with the number of steps. The subclasses
    :class:`~hamnets.integrate.Checkpointed` and :class:`~hamnets.integrate.SymplecticAdjoint`
    give the same gradient (the exact gradient of the discrete solve) with memory that does
    not grow with the steps' network activations.
    """

    def solve(
        self,
        solver: Solver,
        f: TimedField,
        x: torch.Tensor,
        n_out: int,
        steps: Iterable[Step],
        params: Sequence[torch.Tensor],
    ) -> torch.Tensor:
        """Replay ``steps`` from ``x`` (``(batch, dim)``); returns the states at the ``n_out``
        output times ``(n_out, batch, dim)`` with this strategy's backward."""
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"
