"""The exact adjoint of the discrete solve, step by step."""

from __future__ import annotations

from ._gradient import Gradient
from ._sweep import sweep


class SymplecticAdjoint(Gradient):
    """The gradient of the discrete rollout by a reverse sweep over its steps.

    Forward: the solve runs without a graph and keeps the state at the start of every step
    (``N`` states ``(batch, dim)``; for leapfrog, Yoshida4, Tsit5 and Dopri5 also the
    first-same-as-last field value there, so no step is evaluated more often than in the
    forward pass). Backward: for ``n = N-1, ..., 0`` the step from ``x_n`` is recomputed with
    its graph and the adjoint ``lambda_{n+1} = dL/dx_{n+1}`` (plus the loss's gradient at the
    output times inside the step) is pulled back through it,
    ``lambda_n = (d x_{n+1} / d x_n)^T lambda_{n+1}``, while the parameters' gradient
    accumulates.

    This is the discrete adjoint (Sanz-Serna, SIAM Review 2016): for a Runge-Kutta solver it is
    the adjoint system integrated by the symplectic partner of the forward method, the
    symplectic adjoint of Matsubara, Miyatake and Yaguchi (NeurIPS 2021); the gradient is that
    of the discrete forward solve to round-off, with no tolerance involved (unlike a
    continuous, backsolve adjoint). Memory: ``N`` (or ``2N``) states plus one step's graph
    (the network's uses in one step), instead of ``N`` steps' graphs. Cost: one extra forward
    pass (adaptive solvers first record their accepted steps, then replay them). Here a step
    is differentiated by autograd as a whole, not stage by stage as in Matsubara et al., so
    the graph held is one step's (``s`` network uses), not one stage's; what it computes is
    that of :class:`Checkpointed` with ``every=1``.

    Works with every solver. Gradients reach ``x0`` and ``odeint``'s ``params`` (by default the
    field's parameters when it is an ``nn.Module``). Once differentiable.
    """

    def solve(self, solver, f, x, n_out, steps, params):
        return sweep(solver, f, list(steps), n_out, 1, x, params)
