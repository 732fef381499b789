"""Checkpointed back-propagation through the solver: keep every k-th state, recompute the rest."""

from __future__ import annotations

import itertools

import torch
from torch.utils.checkpoint import checkpoint

from ._base import _count
from ._gradient import Gradient
from ._plan import run_steps


class Checkpointed(Gradient):
    """Back-propagation with the solve cut into segments of ``every`` steps.

    The forward pass keeps only each segment's first state (and the outputs); the backward pass
    re-runs one segment at a time with its graph (:func:`torch.utils.checkpoint.checkpoint`,
    non-reentrant) and back-propagates through it. The gradient is exactly that of plain
    back-propagation (the same operations, recomputed); the graph held at once is one segment's,
    so memory is about ``N / every`` states plus ``every`` steps of activations, at the price of
    one extra forward pass. ``every ~ sqrt(N)`` minimises the sum. Works with every solver and
    every field (closures included), and with ``gradgradcheck``.

    Args:
        every: steps per segment, ``>= 1``.
    """

    def __init__(self, every: int = 100) -> None:
        self.every = _count(every, "every", "Checkpointed")

    def solve(self, solver, f, x, n_out, steps, params):
        out: list[torch.Tensor | None] = [None] * n_out
        out[0] = x
        carry = None
        it = iter(steps)
        while chunk := list(itertools.islice(it, self.every)):

            def segment(x_in, carry_in, chunk=chunk):
                x_end, carry_end, ys = run_steps(solver, f, x_in, carry_in, chunk)
                return x_end, carry_end, [y for _, y in ys]

            idx = [i for st in chunk for i, _ in st.outs]
            x, carry, ys = checkpoint(segment, x, carry, use_reentrant=False)
            for i, y in zip(idx, ys, strict=True):
                out[i] = y
        return torch.stack(out)  # (n_out, batch, dim)
