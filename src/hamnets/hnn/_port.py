"""``PortHamiltonianNN``: a learned energy with learned dissipation and input ports."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .._port_field import PortHamiltonianField
from ._hamiltonian import HamiltonianNN
from ._input_map import ConstantInputMatrix


class PortHamiltonianNN(PortHamiltonianField):
    """Port-Hamiltonian neural network:
    ``dx/dt = (J - R(x)) grad_x H_theta(t, x) + G(x) u(t)``, ``y = G(x)^T grad_x H_theta``.

    The port-Hamiltonian form of dissipative and driven systems (van der Schaft and Jeltsema
    2014; learned as in Desai et al., "Port-Hamiltonian neural networks for learning explicit
    time-dependent dynamical systems", Phys. Rev. E 104, 2021, and Zhong et al.,
    "Dissipative SymODEN", 2020). ``R = L L^T`` is positive semi-definite for every parameter
    value (:mod:`hamnets.hnn._dissipation`), so for an energy without explicit time the
    learned model obeys ``dH/dt = -|L^T grad H|^2 + y^T u <= y^T u``. With no dissipation and
    no inputs the field is bit for bit that of :class:`HamiltonianNN` ``(energy)``.

    States ``x = [q, p]`` ``(batch, 2n)``; the field is called ``f(t, x)`` (``t`` a scalar
    tensor) and returns ``(batch, 2n)``; :meth:`parts` gives ``grad H``, ``R grad H``, ``u``
    and ``y`` (:class:`hamnets._port_field.PortParts`).

    Args:
        energy: ``H_theta``, called ``energy(x)`` or ``energy(t, x)`` (the calling rule of
            :func:`hamnets._field.takes_time`), returning ``(batch,)`` or ``(batch, 1)``.
        dissipation: a module ``x -> L(x)`` ``(batch, 2n, r)`` (:class:`NetworkDissipation`,
            :class:`ConstantDissipation`, :class:`MomentumDamping`, :class:`FixedDissipation`),
            or ``None`` for ``R = 0``.
        input_matrix: a module ``x -> G(x)`` ``(batch, 2n, m)`` (:class:`ConstantInputMatrix`,
            :class:`MomentumInput`, :class:`NetworkInputMatrix`, :class:`FixedInputMatrix`);
            default a learned constant ``G`` starting at zero when ``inputs > 0``.
        inputs: ``m``; read from ``input_matrix.inputs`` when omitted (``0`` without one).
        dim: state dimension ``2n``; read from ``energy.in_features`` when omitted.
        signal: the input ``u(t) -> (batch, m)`` (e.g. a :mod:`hamnets.controls` signal); or
            bind one later with :meth:`with_input`.
    """

    def __init__(
        self,
        energy: nn.Module,
        dissipation: nn.Module | None = None,
        input_matrix: nn.Module | None = None,
        inputs: int | None = None,
        *,
        dim: int | None = None,
        signal: Callable | None = None,
    ) -> None:
        hnn = HamiltonianNN(energy, dim)
        if inputs is None:
            inputs = getattr(input_matrix, "inputs", 0) if input_matrix is not None else 0
        super().__init__(hnn.dim, inputs, signal)
        self.hnn = hnn
        self.explicit_time = hnn.time_dependent
        for name, mod in (("dissipation", dissipation), ("input_matrix", input_matrix)):
            if mod is not None and getattr(mod, "dim", self.dim) != self.dim:
                raise ValueError(
                    f"the {name} acts on states of dimension {mod.dim}, the energy on "
                    f"{self.dim}; build both for the same 2n."
                )
        if input_matrix is not None and getattr(input_matrix, "inputs", inputs) != inputs:
            raise ValueError(
                f"the input matrix has {input_matrix.inputs} columns but inputs={inputs}."
            )
        if input_matrix is not None and inputs == 0:
            raise ValueError("an input matrix needs inputs=m >= 1.")
        if input_matrix is None and inputs:
            input_matrix = ConstantInputMatrix(self.dim, inputs)
        self.dissipation = dissipation
        self.input_map = input_matrix

    def hamiltonian(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``H_theta(t, x)`` ``(batch,)`` (``t`` unused by an energy of ``x`` alone)."""
        return self.hnn.hamiltonian(t, x) if self.explicit_time else self.hnn.hamiltonian(x)

    def grad_h(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``grad_x H_theta`` ``(batch, 2n)``, by :meth:`HamiltonianNN.grad_h` (closed form for
        a tanh :class:`EnergyMLP`)."""
        return self.hnn.grad_h(t, x) if self.explicit_time else self.hnn.grad_h(x)

    def dissipation_factor(self, x: torch.Tensor) -> torch.Tensor | None:
        """``L(x)`` ``(batch, 2n, r)``, ``R = L L^T``; ``None`` without dissipation."""
        return None if self.dissipation is None else self.dissipation(x)

    def input_matrix(self, x: torch.Tensor) -> torch.Tensor:
        """``G(x)`` ``(batch, 2n, m)``."""
        if self.input_map is None:
            return super().input_matrix(x)
        return self.input_map(x)
