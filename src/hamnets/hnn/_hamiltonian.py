"""``HamiltonianNN``: a learned energy whose field is ``J grad H``."""

from __future__ import annotations

import torch
from torch import nn

from .._field import HamiltonianField, _vjp_grad, takes_time


def _scalar(out: torch.Tensor) -> torch.Tensor:
    return out.squeeze(-1) if out.ndim == 2 and out.shape[-1] == 1 else out


class HamiltonianNN(HamiltonianField):
    """Hamiltonian neural network (Greydanus, Dzamba and Yosinski, 2019).

    ``H_theta = energy`` maps states ``x = [q, p]`` of shape ``(batch, 2n)`` to ``(batch,)``
    (or ``(batch, 1)``); the forward pass returns ``f(x) = J grad H_theta(x)``, that is
    ``dq/dt = dH/dp`` and ``dp/dt = -dH/dq``. This is the correct sign for any ``H``,
    separable or not.

    The energy may depend on time, ``H_theta(t, x)`` (the H-DNN form ``y' = J grad H(y, t)``):
    an energy whose ``forward`` has two required positional parameters is called as
    ``energy(t, x)`` (:func:`hamnets._field.takes_time`), and the model is then a
    :class:`TimeDependentHamiltonianNN`, a field ``f(t, x) = J grad_x H_theta(t, x)``.

    Args:
        energy: the network ``H_theta``, ``energy(x)`` or ``energy(t, x)``.
        dim: state dimension ``2n``; taken from ``energy.in_features`` when omitted.

    Training on derivatives (``hamnets hnn``) computes the loss of a tanh
    :class:`~hamnets.hnn.EnergyMLP` on CPU in one C call per step
    (:mod:`hamnets.hnn._fused_loss`); ``model.use_c = False`` keeps it in autograd.
    """

    use_c: bool = True

    def __new__(cls, energy: nn.Module | None = None, dim: int | None = None):
        if cls is HamiltonianNN and energy is not None and takes_time(energy, "the energy"):
            cls = TimeDependentHamiltonianNN
        return super().__new__(cls)

    def __init__(self, energy: nn.Module, dim: int | None = None) -> None:
        if dim is None:
            dim = getattr(energy, "in_features", None)
            if dim is None:
                raise ValueError(
                    "HamiltonianNN could not read the state dimension from the energy network "
                    "(it has no in_features); pass dim=2n."
                )
        if takes_time(energy, "the energy") != self.time_dependent:
            raise ValueError(
                f"{type(self).__name__} needs an energy "
                f"{'H(t, x)' if self.time_dependent else 'H(x)'}; build it as HamiltonianNN."
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
        return _scalar(self.energy(x))


class TimeDependentHamiltonianNN(HamiltonianNN):
    """A :class:`HamiltonianNN` with a time-dependent energy ``H_theta(t, x)``.

    Built by ``HamiltonianNN(energy)`` when ``energy`` takes ``(t, x)``. Field
    ``f(t, x) = J grad_x H_theta(t, x)``: ``t`` a scalar tensor, ``x`` ``(batch, 2n)`` ->
    ``(batch, 2n)``. Not energy-conserving (``dH/dt = partial_t H``).
    """

    time_dependent = True

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``H_theta(t, x)``: ``(batch, 2n)`` -> ``(batch,)``."""
        return _scalar(self.energy(t, x))

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``grad_x H_theta(t, x)`` ``(batch, 2n)``."""
        self._check_state(x)
        return _vjp_grad(lambda z: self.hamiltonian(t, z), x, "the energy")

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """``J grad_x H_theta(t, x)``: ``(batch, 2n)`` -> ``(batch, 2n)``."""
        return self.grad_h(t, x) @ self.J.to(x.dtype).T
