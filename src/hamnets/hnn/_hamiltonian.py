"""``HamiltonianNN``: a learned energy whose field is ``J grad H``."""

from __future__ import annotations

import torch
from torch import nn

from .._field import HamiltonianField


class HamiltonianNN(HamiltonianField):
    """Hamiltonian neural network (Greydanus, Dzamba and Yosinski, 2019).

    ``H_theta = energy`` maps states ``x = [q, p]`` of shape ``(batch, 2n)`` to ``(batch,)``
    (or ``(batch, 1)``); the forward pass returns ``f(x) = J grad H_theta(x)``, that is
    ``dq/dt = dH/dp`` and ``dp/dt = -dH/dq``. This is the correct sign for any ``H``,
    separable or not.

    Args:
        energy: the network ``H_theta``.
        dim: state dimension ``2n``; taken from ``energy.in_features`` when omitted.
    """

    def __init__(self, energy: nn.Module, dim: int | None = None) -> None:
        if dim is None:
            dim = getattr(energy, "in_features", None)
            if dim is None:
                raise ValueError(
                    "HamiltonianNN could not read the state dimension from the energy network "
                    "(it has no in_features); pass dim=2n."
                )
        super().__init__(dim)
        self.energy = energy

    def grad_h(self, x: torch.Tensor) -> torch.Tensor:
        """``grad H(x)`` ``(batch, 2n)``: the energy's closed-form ``input_gradient`` when it
        has one (a tanh :class:`EnergyMLP`), else one batched vector-Jacobian product."""
        if getattr(self.energy, "has_closed_form_gradient", False):
            self._check_state(x)
            return self.energy.input_gradient(x)
        return super().grad_h(x)

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        h = self.energy(x)
        return h.squeeze(-1) if h.ndim == 2 and h.shape[-1] == 1 else h
