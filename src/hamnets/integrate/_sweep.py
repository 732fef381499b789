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
    respect to ``x0`` and ``params`` by the segment-wise reverse sweep.

    Kept per segment: its first state and the solver's carry there (a first-same-as-last value
    of the field, e.g. leapfrog's force or Tsit5's last stage), so a recomputed segment
    evaluates the field exactly as often as the forward pass did; the carry's adjoint is
    handed to the segment before, like the state's.
    """
    return _Sweep.apply(solver, f, steps, n_out, every, x0, *params)


class _Sweep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, solver, f, steps, n_out, every, x0, *params):  # noqa: D102
        out: list[torch.Tensor | None] = [None] * n_out
        out[0] = x0
        starts, carries = [], []  # the state and the carry at the start of every segment
        x, carry = x0, None
        for k in range(0, len(steps), every):
            starts.append(x)
            carries.append(carry)
            x, carry, ys = run_steps(solver, f, x, carry, steps[k : k + every])
            for i, y in ys:
                out[i] = y
        ctx.solver, ctx.f, ctx.steps, ctx.every = solver, f, steps, every
        ctx.n_params, ctx.n_seg = len(params), len(starts)
        ctx.has_carry = [c is not None for c in carries]
        kept = [c for c in carries if c is not None]
        ctx.save_for_backward(*params, *starts, *kept)  # (saved-tensor hooks see them)
        return torch.stack(out)  # (n_out, batch, dim)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        saved = ctx.saved_tensors
        params = saved[: ctx.n_params]
        starts = saved[ctx.n_params : ctx.n_params + ctx.n_seg]
        kept = iter(saved[ctx.n_params + ctx.n_seg :])
        carries = [next(kept) if has else None for has in ctx.has_carry]
        lam = torch.zeros_like(grad_out[0])  # dL/dx at the end of the segment
        lam_carry = None  # dL/dcarry there (none after the last step)
        grad_params = [torch.zeros_like(p) for p in params]
        for seg in range(ctx.n_seg - 1, -1, -1):
            chunk = ctx.steps[seg * ctx.every : (seg + 1) * ctx.every]
            with torch.enable_grad():
                xs = starts[seg].detach().requires_grad_(True)
                cs = carries[seg]
                cs = None if cs is None else cs.detach().requires_grad_(True)
                x_end, c_end, ys = run_steps(ctx.solver, ctx.f, xs, cs, chunk)
                outs, gouts = [x_end], [lam]
                if lam_carry is not None and c_end is not None:
                    outs.append(c_end)
                    gouts.append(lam_carry)
                outs += [y for _, y in ys]
                gouts += [grad_out[i] for i, _ in ys]
                inputs = (xs, *(() if cs is None else (cs,)), *params)
                grads = torch.autograd.grad(outs, inputs, gouts, allow_unused=True)
            lam = grads[0] if grads[0] is not None else torch.zeros_like(lam)
            rest = grads[1:]
            if cs is not None:
                lam_carry = rest[0] if rest[0] is not None else torch.zeros_like(cs)
                rest = rest[1:]
            else:
                lam_carry = None
            for k, g in enumerate(rest):
                if g is not None:
                    grad_params[k] += g
            del xs, cs, x_end, c_end, ys, outs, grads, rest
        return (None, None, None, None, None, lam + grad_out[0], *grad_params)
