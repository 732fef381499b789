"""A spring whose stiffness is modulated in time: a genuinely time-dependent Hamiltonian."""

from __future__ import annotations

import torch

from ._port import PortHamiltonianSystem


class ParametricSpring(PortHamiltonianSystem):
    """Parametrically driven spring (a Mathieu oscillator): ``H(t) = p^2 / 2 + k(t) q^2 / 2``,
    ``k(t) = 1 + 0.5 sin 2t``, no dissipation, no input (state ``(q, p)``).

    Field ``dq/dt = p``, ``dp/dt = -k(t) q``; ``H`` is not conserved:
    ``dH/dt = partial_t H = cos(2t) q^2 / 2`` (:meth:`dh_dt_explicit`). The modulation is at
    twice the natural frequency, the principal parametric resonance, so amplitudes grow
    (at a rate of about ``0.5 / 4 = 0.125`` per unit time).
    """

    name = "parametric_spring"
    explicit_time = True

    def __init__(self) -> None:
        super().__init__(1, [0.0])

    @staticmethod
    def stiffness(t: torch.Tensor) -> torch.Tensor:
        """``k(t) = 1 + 0.5 sin 2t``."""
        return 1 + 0.5 * torch.sin(2 * t)

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``p^2 / 2 + k(t) q^2 / 2``: ``(batch, 2)`` -> ``(batch,)``."""
        t = torch.as_tensor(t, dtype=x.dtype)
        return 0.5 * x[:, 1] ** 2 + 0.5 * self.stiffness(t) * x[:, 0] ** 2

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``(k(t) q, p)`` ``(batch, 2)``."""
        self._check_state(x)
        t = torch.as_tensor(t, dtype=x.dtype)
        return torch.stack([self.stiffness(t) * x[:, 0], x[:, 1]], dim=1)

    def dh_dt_explicit(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``partial_t H = cos(2t) q^2 / 2`` ``(batch,)``."""
        t = torch.as_tensor(t, dtype=x.dtype)
        return torch.cos(2 * t) * 0.5 * x[:, 0] ** 2
