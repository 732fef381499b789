"""The smoothness regulariser ``0.5 scale sum_j ||X_{j+1} - X_j||^2`` as one autograd node.

Over tensors stacked with the layer index first, ``(L, ...)``. The plain form (differences,
squares, sums: about ten autograd nodes) costs more than the 2D protocols' whole layer loop
at their sizes; this node computes the value and its gradient
``scale (2 X_j - X_{j-1} - X_{j+1})`` (one-sided at the ends) in numpy on a CPU, in torch
elsewhere, the same numbers to float rounding.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

__all__ = ["smoothness"]


def _diff(x):
    return x[1:] - x[:-1]


class _Smoothness(torch.autograd.Function):
    @staticmethod
    def forward(ctx, scale: float, *stacks: torch.Tensor) -> torch.Tensor:
        ctx.scale = scale
        ctx.save_for_backward(*stacks)
        cpu = all(s.device.type == "cpu" for s in stacks)
        total = 0.0
        for s in stacks:
            d = _diff(s.detach().numpy() if cpu else s)
            total = total + (np.vdot(d, d) if cpu else d.pow(2).sum())
        value = 0.5 * scale * total
        return value.detach() if torch.is_tensor(value) else stacks[0].new_tensor(value)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: torch.Tensor):
        factor = grad * ctx.scale
        grads = []
        for s in ctx.saved_tensors:
            cpu = s.device.type == "cpu"
            x = s.detach().numpy() if cpu else s
            d = _diff(x)  # (L - 1, ...)
            g = np.zeros_like(x) if cpu else torch.zeros_like(x)
            g[1:] += d
            g[:-1] -= d
            g *= float(factor) if cpu else factor
            grads.append(torch.from_numpy(g) if cpu else g)
        return (None, *grads)


def smoothness(scale: float, *stacks: torch.Tensor) -> torch.Tensor:
    """``0.5 scale sum_X sum_j ||X_{j+1} - X_j||^2`` over the ``(L, ...)`` tensors ``stacks``
    (a 0-d tensor), as one autograd node. Not twice differentiable."""
    return _Smoothness.apply(float(scale), *stacks)
