"""The implicit midpoint rule, symplectic for any Hamiltonian."""

from __future__ import annotations

import torch

from ._base import FixedStepSolver, TimedField, _positive


class ImplicitMidpoint(FixedStepSolver):
    """Implicit midpoint, ``x_{k+1} = x_k + h f(t_k + h/2, (x_k + x_{k+1}) / 2)``.

    Order 2, symplectic for every Hamiltonian (separable or not), time-reversible. The implicit
    equation is solved by fixed-point iteration from an explicit Euler guess until the update
    is below ``tol * (1 + max|x|)`` (``tol`` defaults to ``100 * eps`` of the state's dtype);
    the iteration contracts when ``h * Lip(f) < 2``. Gradients flow through the iterations.

    Args:
        dt: largest step (see :class:`FixedStepSolver`).
        tol: stopping tolerance of the iteration.
        max_iter: iterations before giving up with a ``ValueError`` (then use a smaller dt).
        max_steps: see :class:`FixedStepSolver`.
    """

    order = 2
    symplectic = True

    def __init__(
        self,
        dt: float | None = None,
        tol: float | None = None,
        max_iter: int = 100,
        max_steps: int = 10_000_000,
    ):
        super().__init__(dt, max_steps)
        self.tol = _positive(tol, "tol", "ImplicitMidpoint", allow_none=True)
        if not isinstance(max_iter, int) or max_iter < 1:
            raise ValueError(
                f"ImplicitMidpoint: max_iter must be an integer >= 1, got {max_iter!r}."
            )
        self.max_iter = max_iter

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        tol = self.tol if self.tol is not None else 100 * torch.finfo(x.dtype).eps
        scale = tol * (1.0 + float(x.detach().abs().max()))
        x_new = x + h * f(t, x)
        for _ in range(self.max_iter):
            x_next = x + h * f(t + 0.5 * h, 0.5 * (x + x_new))
            change = float((x_next - x_new).detach().abs().max())
            x_new = x_next
            if change <= scale:
                return x_new
        raise ValueError(
            f"ImplicitMidpoint: the fixed-point iteration did not converge in {self.max_iter} "
            f"iterations at step h={h:g} (last change {change:.3g} > {scale:.3g}); use a smaller "
            "dt or a larger max_iter."
        )
