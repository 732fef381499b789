"""Checkpointed back-propagation through the solver: keep every k-th state, recompute the rest."""

from __future__ import annotations

from ._base import _count
from ._gradient import Gradient
from ._sweep import sweep


class Checkpointed(Gradient):
    """Back-propagation with the solve cut into segments of ``every`` steps.

    The forward pass runs without a graph and keeps only each segment's first state (and the
    outputs); the backward pass re-runs one segment at a time with its graph, last segment
    first, and back-propagates the adjoint through it. The gradient is that of plain
    back-propagation (the same operations, recomputed; equal to round-off). The graph held at
    once is one segment's, so memory is about ``N / every`` states plus ``every`` steps of
    activations, for one extra forward pass; ``every ~ sqrt(N)`` minimises the sum.

    Works with every solver. Gradients reach ``x0`` and ``odeint``'s ``params`` (by default the
    field's parameters when it is an ``nn.Module``; tensors a plain function closes over must
    be passed as ``params``). Once differentiable: for ``gradgradcheck`` or a loss on a
    gradient use ``gradient=None``.

    Args:
        every: steps per segment, ``>= 1``.
    """

    def __init__(self, every: int = 100) -> None:
        self.every = _count(every, "every", "Checkpointed")

    def solve(self, solver, f, x, n_out, steps, params):
        return sweep(solver, f, list(steps), n_out, self.every, x, params)
