"""Names of the HNN models and symmetries, as the command line and saved configurations spell
them: the only place where a model's name becomes a network."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._baseline import MLPField
from ._hamiltonian import HamiltonianNN
from ._mlp import EnergyMLP
from ._periodic import PeriodicEnergy
from ._separable import SeparableHamiltonianNN
from ._symmetric import SymmetricEnergy

__all__ = ["ACTIVATIONS", "ACTIVATION_NAMES", "HNN_MODEL_NAMES", "SYMMETRY_NAMES", "build_hnn"]

#: ``hnn``: a learned H; ``separable``: a learned T(p) + V(q); ``baseline``: an MLP for dx/dt.
HNN_MODEL_NAMES = ("hnn", "separable", "baseline")
#: symmetries a learned energy can be made exactly invariant under: two reflections
#: (:class:`SymmetricEnergy`) and ``q -> q + 2 pi`` (:class:`PeriodicEnergy`, positions that
#: are angles).
SYMMETRY_NAMES = ("none", "even", "time_reversal", "periodic")
#: activation name -> its module's constructor. The field ``J grad H`` is as smooth as the
#: activation's derivative: tanh, gelu and softplus give a smooth field, relu a piecewise
#: constant one (its derivative is a step). Only tanh has the closed-form gradient
#: (:meth:`EnergyMLP.input_gradient`); the others go through autograd.
ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "softplus": nn.Softplus,
}
ACTIVATION_NAMES = tuple(ACTIVATIONS)


def _energy(
    width: int,
    dim: int,
    hidden: Sequence[int],
    symmetry: str,
    constrain: bool,
    g,
    activation: Callable[[], nn.Module],
) -> nn.Module:
    """An energy of ``width`` inputs (``H(x)``: ``dim``; ``T(p)`` or ``V(q)``: ``dim / 2``),
    invariant under ``symmetry`` when ``constrain``."""
    if constrain and symmetry == "periodic":  # the positions lead both x = [q, p] and q
        n = dim // 2
        return PeriodicEnergy(EnergyMLP(width + n, tuple(hidden), activation=activation,
                                        generator=g), n)  # fmt: skip
    net = EnergyMLP(width, tuple(hidden), activation=activation, generator=g)
    if not constrain:
        return net
    if symmetry == "time_reversal" and width == dim:
        return SymmetricEnergy.time_reversal(net)
    return SymmetricEnergy.even(net)  # even H, or an even T(p) / V(q)


def build_hnn(
    name: str,
    dim: int,
    hidden: Sequence[int],
    *,
    symmetry: str = "none",
    activation: str = "tanh",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """The field network ``name`` (one of :data:`HNN_MODEL_NAMES`) on states ``(batch, dim)``.

    Args:
        name: ``hnn`` (:class:`HamiltonianNN` of an :class:`EnergyMLP`), ``separable``
            (:class:`SeparableHamiltonianNN`, kinetic then potential energy, each an
            :class:`EnergyMLP` of ``dim / 2`` inputs) or ``baseline`` (:class:`MLPField`).
        hidden: hidden widths of every network.
        symmetry: ``none``, ``even`` (``H(-x) = H(x)``; for ``separable`` ``T`` and ``V``
            even), ``time_reversal`` (``H(q, -p) = H(q, p)``; for ``separable`` ``T``
            even) or ``periodic`` (every ``q_i`` an angle, ``H(q + 2 pi k, p) = H(q, p)``:
            the energy reads ``(cos q, sin q, p)``; for ``separable`` ``V`` reads
            ``(cos q, sin q)``, :class:`PeriodicEnergy`); the ``baseline`` has no energy to
            constrain and takes ``none`` only.
        activation: the hidden layers' activation of every network, one of
            :data:`ACTIVATION_NAMES` (``tanh``: the closed-form gradient; others: autograd).
        generator: the initialisation's only source of randomness (drawn in the order above).

    Raises:
        ValueError: an unknown name, symmetry or activation, or a symmetry for the baseline.
    """
    if name not in HNN_MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(HNN_MODEL_NAMES)}.")
    if symmetry not in SYMMETRY_NAMES:
        raise ValueError(
            f"unknown symmetry {symmetry!r}; choose one of {', '.join(SYMMETRY_NAMES)}."
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_NAMES)}."
        )
    act = ACTIVATIONS[activation]
    constrain = symmetry != "none"
    if name == "hnn":
        return HamiltonianNN(_energy(dim, dim, hidden, symmetry, constrain, generator, act))
    if name == "separable":  # time reversal: T(-p) = T(p); even: V(-q) = V(q) too;
        # periodic: V(q + 2 pi) = V(q)
        t_sym, v_sym = symmetry in ("even", "time_reversal"), symmetry in ("even", "periodic")
        kinetic = _energy(dim // 2, dim, hidden, symmetry, t_sym, generator, act)
        potential = _energy(dim // 2, dim, hidden, symmetry, v_sym, generator, act)
        return SeparableHamiltonianNN(kinetic, potential)
    if constrain:
        raise ValueError(
            f"symmetry {symmetry!r} constrains a learned energy; the baseline has none."
        )
    return MLPField(dim, tuple(hidden), activation=act, generator=generator)
