"""The symplectic adjoint: the exact gradient of the discrete solve by a reverse sweep, stage
by stage for explicit Runge-Kutta solvers."""

from __future__ import annotations

import torch
from torch.autograd.function import once_differentiable

from ._embedded_rk import EmbeddedRK
from ._gradient import Gradient
from ._interpolation import dense_weights
from ._plan import run_steps
from ._sweep import sweep


class SymplecticAdjoint(Gradient):
    """The gradient of the discrete rollout by a reverse sweep over its steps (Matsubara,
    Miyatake and Yaguchi, NeurIPS 2021).

    Forward: the solve runs without a graph and keeps the state at the start of every step
    (``N`` states ``(batch, dim)``, and the first-same-as-last field value there for Tsit5,
    Dopri5, leapfrog and Yoshida4).

    Backward, for an explicit Runge-Kutta solver (Euler, RK4, Tsit5, Dopri5; tableau
    ``c, a, b``): for ``n = N-1, ..., 0`` the stage states ``X_i = x_n + h sum_j a_ij k_j`` are
    recomputed without a graph, then, for ``i = s, ..., 1``,
    ``kbar_i = h b_i lambda + h sum_{j>i} a_ji Xbar_j`` (plus the output times inside the step,
    through the dense-output weights) and ``Xbar_i = (df/dx(X_i))^T kbar_i``, one vector-Jacobian
    product of the field at a time, re-evaluated at ``X_i``; ``lambda_n = lambda + sum_i
    Xbar_i``. This recurrence is the adjoint system integrated by the symplectic partner of the
    forward method (Sanz-Serna, SIAM Review 2016), so the gradient is that of the discrete
    forward solve to round-off (no tolerance involved, unlike a continuous adjoint), and
    stages with ``b_i = 0`` need no special case. Memory: the ``N`` kept states plus ``s``
    stage states and one field evaluation's graph, independent of ``N``'s activations. Cost:
    per step ``s - 1`` extra field evaluations without a graph (adaptive solvers also record
    their accepted steps first).

    Other solvers (symplectic Euler, leapfrog, Yoshida4, implicit midpoint) are pulled back
    one step at a time: the step from ``x_n`` is recomputed with its graph and differentiated
    by autograd (the graph held is one step's, e.g. one force and one kinetic evaluation for
    leapfrog), which is :class:`Checkpointed` with ``every=1``.

    Gradients reach ``x0`` and ``odeint``'s ``params`` (by default the field's parameters when
    it is an ``nn.Module``). Once differentiable.
    """

    def solve(self, solver, f, x, n_out, steps, params):
        if all(hasattr(solver, k) for k in ("c", "a", "b")):
            return _StageSweep.apply(solver, f, list(steps), n_out, x, *params)
        return sweep(solver, f, list(steps), n_out, 1, x, params)


class _StageSweep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, solver, f, steps, n_out, x0, *params):  # noqa: D102
        out: list[torch.Tensor | None] = [None] * n_out
        out[0] = x0
        xs, carries = [], []  # state and carry at the start of every step
        x, carry = x0, None
        for st in steps:
            xs.append(x)
            carries.append(carry)
            x, carry, ys = run_steps(solver, f, x, carry, (st,))
            for i, y in ys:
                out[i] = y
        ctx.solver, ctx.f, ctx.steps = solver, f, steps
        ctx.n_params, ctx.n_steps = len(params), len(xs)
        ctx.has_carry = [c is not None for c in carries]
        kept = [c for c in carries if c is not None]
        ctx.save_for_backward(*params, *xs, *kept)
        return torch.stack(out)  # (n_out, batch, dim)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out):  # noqa: D102
        saved = ctx.saved_tensors
        params = saved[: ctx.n_params]
        xs = saved[ctx.n_params : ctx.n_params + ctx.n_steps]
        kept = iter(saved[ctx.n_params + ctx.n_steps :])
        carries = [next(kept) if has else None for has in ctx.has_carry]
        solver, f = ctx.solver, ctx.f
        fsal = isinstance(solver, EmbeddedRK)  # the last stage is the next step's first
        lam = torch.zeros_like(grad_out[0])  # dL/dx_{n+1}
        mu = None  # dL/dk_s of the step (its carry handed on), none after the last step
        grad_params = [torch.zeros_like(p) for p in params]
        for n in range(ctx.n_steps - 1, -1, -1):
            st = ctx.steps[n]
            lam, mu = _pull_back_step(
                solver, f, st, xs[n], carries[n], lam, mu if fsal else None, grad_out, params,
                grad_params,
            )  # fmt: skip
        return (None, None, None, None, lam + grad_out[0], *grad_params)


def _pull_back_step(solver, f, st, x, carry, lam, mu, grad_out, params, grad_params):
    """``(lambda_n, dL/dcarry_n)`` from ``lambda_{n+1}`` and ``mu = dL/dk_s`` for one step."""
    c, a, b = solver.c, solver.a, solver.b
    s, h, t = len(b), st.h, st.t
    # the stage states, without a graph
    with torch.no_grad():
        ks = [f(t, x) if carry is None else carry]
        stages = [x]
        for i in range(1, s):
            dx = sum(a[i][j] * ks[j] for j in range(i) if a[i][j] != 0.0)
            stages.append(x + h * dx)
            if i < s - 1 or any(a[m][i] != 0.0 for m in range(i + 1, s)):
                ks.append(f(t + c[i] * h, stages[i]))
            else:
                ks.append(None)  # k_s feeds no later stage: not needed
        del ks
    # adjoints of the stages' slopes: from x_{n+1}, the dense outputs and the carry
    lam_n = lam.clone()
    kbar = [h * bi * lam if bi != 0.0 else None for bi in b]
    for idx, theta in st.outs:
        g = grad_out[idx]
        if theta == 1.0:  # the step's end state itself
            lam_n = lam_n + g
            kbar = [
                _add(kb, h * bi * g) if bi != 0.0 else kb for kb, bi in zip(kbar, b, strict=True)
            ]
        else:
            lam_n = lam_n + g
            for i, w in enumerate(dense_weights(solver.dense, theta)):
                if w != 0.0:
                    kbar[i] = _add(kbar[i], (h * w) * g)
    if mu is not None:
        kbar[s - 1] = _add(kbar[s - 1], mu)
    xbar: list[torch.Tensor | None] = [None] * s
    carry_bar = None
    for i in range(s - 1, -1, -1):
        for j in range(i + 1, s):
            if len(a[j]) > i and a[j][i] != 0.0 and xbar[j] is not None:
                kbar[i] = _add(kbar[i], (h * a[j][i]) * xbar[j])
        if kbar[i] is None:
            continue
        if i == 0 and carry is not None:  # k_1 was handed on by the previous step
            carry_bar = kbar[0]
            continue
        with torch.enable_grad():
            xi = stages[i].detach().requires_grad_(True)
            ki = f(t + c[i] * h, xi)
            grads = torch.autograd.grad(ki, (xi, *params), kbar[i], allow_unused=True)
        xbar[i] = grads[0] if grads[0] is not None else torch.zeros_like(xi)
        for k, g in enumerate(grads[1:]):
            if g is not None:
                grad_params[k] += g
        lam_n = lam_n + xbar[i]
        del xi, ki, grads
    if carry is not None and carry_bar is None:
        carry_bar = torch.zeros_like(carry)
    return lam_n, carry_bar


def _add(acc: torch.Tensor | None, v: torch.Tensor) -> torch.Tensor:
    return v if acc is None else acc + v
