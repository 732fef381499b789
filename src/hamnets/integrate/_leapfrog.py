"""Leapfrog (Stormer-Verlet) for separable Hamiltonians, one force evaluation per step."""

from __future__ import annotations

import torch

from ._base import SeparableSolver, TimedField


def leapfrog_step(
    f: TimedField, t: float, q: torch.Tensor, p: torch.Tensor, h: float, force: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kick-drift-kick from time ``t``: ``p -= h/2 V'(t, q)``; ``q += h T'(t + h/2, p)``;
    ``p -= h/2 V'(t + h, q)``.

    ``force`` is ``V'(t, q)`` when the caller has it (the last kick of the previous step
    evaluated it at this very ``(t, q)``), ``None`` otherwise. The two half kicks stay apart
    (not merged into one full kick), so reusing the force changes no rounding: the states are
    those of the plain kick-drift-kick, bit for bit. Returns ``q``, ``p`` and the force at the
    new ``(t + h, q)`` to hand on.
    """
    if force is None:
        force = f.dh_dq(t, q)
    p = p - 0.5 * h * force
    q = q + h * f.dh_dp(t + 0.5 * h, p)
    force = f.dh_dq(t + h, q)
    p = p - 0.5 * h * force
    return q, p, force


class Leapfrog(SeparableSolver):
    """Stormer-Verlet leapfrog, kick-drift-kick form (see :func:`leapfrog_step`).

    Order 2, symplectic and time-reversible (a step of ``-h`` undoes a step of ``h``); needs
    ``H = T(p) + V(q)`` or ``T(t, p) + V(t, q)`` (then ``V'`` is taken at the kick times
    ``t``, ``t + h`` and ``T'`` at the drift's midpoint ``t + h/2``, which keeps both
    properties). First same as last: the closing kick's force is the next step's opening one,
    so ``N`` steps cost ``N + 1`` evaluations of ``V'`` and ``N`` of ``T'``.
    """

    order = 2
    symplectic = True

    def _advance(self, f, t, x, h, carry):
        q, p = self.split(x)
        q, p, force = leapfrog_step(f, t, q, p, h, carry)
        return torch.cat([q, p], dim=1), force

    def _step(self, f: TimedField, t: float, x: torch.Tensor, h: float) -> torch.Tensor:
        return self._advance(f, t, x, h, None)[0]
