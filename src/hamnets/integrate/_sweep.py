"""The reverse sweep shared by the memory-lean gradients: a solve that keeps every k-th state
and, backwards, recomputes one segment of k steps at a time to pull the adjoint through it."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch.autograd.function import once_differentiable

from .._field import TimedField
from ._base import Solver
from ._plan import Step, run_steps


def sweep(
    solver: Solver,
    f: TimedField,
    steps: list[Step],
    n_out: int,
    every: int,
    x0: torch.Tensor,
    params: Sequence[torch.Tensor],
) -> torch.Tensor:
    """The states at the ``n_out`` output times ``(n_out, batch, dim)``, differentiable with
    respect to ``x0`` and ``params`` by the segment-wise reverse sweep."""
    return _Sweep.apply(solver, f, steps, n_out, every, x0, *params)


class _Sweep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, solver, f, steps, n_out, every, x0, *params):  # noqa: D102
        out: list[torch.Tensor | None] = [None] * n_out
        out[0] = x0
        starts = []  # the state at the start of every segment
        x, carry = x0, None
        for k in range(0, len(steps), every):
            starts.append(x)
            x, carry, ys = run_steps(solver, f, x, carry, steps[k : k + every])
            for i, y in ys:
                out[i] = y
        ctx.solver, ctx.f, ctx.steps, ctx.every, ctx.starts = solver, f, steps, every, starts
        ctx.save_for_backward(*params)
        return torch.stack(out)  # (n_out, batch, dim)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        params = ctx.saved_tensors
        lam = torch.zeros_like(grad_out[0])  # dL/dx_N beyond the outputs
        grad_params = [torch.zeros_like(p) for p in params]
        for seg in range(len(ctx.starts) - 1, -1, -1):
            chunk = ctx.steps[seg * ctx.every : (seg + 1) * ctx.every]
            with torch.enable_grad():
                xs = ctx.starts[seg].detach().requires_grad_(True)
                # carry None: a first-same-as-last value is recomputed from the segment's start
                x_end, _, ys = run_steps(ctx.solver, ctx.f, xs, None, chunk)
                outs = [x_end, *(y for _, y in ys)]
                gouts = [lam, *(grad_out[i] for i, _ in ys)]
                grads = torch.autograd.grad(outs, (xs, *params), gouts, allow_unused=True)
            lam = grads[0] if grads[0] is not None else torch.zeros_like(lam)
            for k, g in enumerate(grads[1:]):
                if g is not None:
                    grad_params[k] += g
            del xs, x_end, ys, outs, grads
        return (None, None, None, None, None, lam + grad_out[0], *grad_params)
