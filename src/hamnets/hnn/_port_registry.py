"""Names of the port-Hamiltonian models and dissipations, as configurations spell them: the
only place where such a name becomes a network."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ._dissipation import ConstantDissipation, MomentumDamping, NetworkDissipation
from ._input_map import FixedInputMatrix, MomentumInput, NetworkInputMatrix
from ._mlp import EnergyMLP
from ._periodic import PeriodicEnergy
from ._port import PortHamiltonianNN
from ._port_baseline import InputMLPField
from ._registry import ACTIVATION_NAMES, ACTIVATIONS
from ._separable_energy import QuadraticEnergy, SeparableEnergy
from ._time_energy import TimeEnergyMLP

__all__ = ["PORT_MODEL_NAMES", "DISSIPATION_NAMES", "INPUT_MATRIX_NAMES", "build_port_model"]

#: ``port``: a learned H, R and G; ``hnn``: a learned H alone (conservative, the inputs
#: ignored); ``baseline``: an MLP of (x, u(t), t).
PORT_MODEL_NAMES = ("port", "hnn", "baseline")
#: ``momentum``: a constant D on p; ``momentum_network``: D(q) on p; ``constant``: a learned
#: constant R; ``network``: R(x) from an MLP.
DISSIPATION_NAMES = ("momentum", "momentum_network", "constant", "network")
#: ``momentum``: a learned constant force direction on p; ``network``: G(x) from an MLP.
INPUT_MATRIX_NAMES = ("momentum", "network")


def _dissipation(name: str, dim: int, hidden: Sequence[int], g) -> nn.Module:
    if name == "momentum":
        return MomentumDamping(dim // 2, generator=g)
    if name == "momentum_network":
        return MomentumDamping(dim // 2, hidden, generator=g)
    if name == "constant":
        return ConstantDissipation(dim, generator=g)
    return NetworkDissipation(dim, hidden, generator=g)


def build_port_model(
    name: str,
    dim: int,
    inputs: int,
    hidden: Sequence[int],
    *,
    dissipation: str = "momentum",
    input_matrix: str = "momentum",
    dissipation_hidden: Sequence[int] = (32,),
    time: bool = False,
    separable: bool = False,
    quadratic: bool = False,
    periodic: bool = False,
    activation: str = "tanh",
    generator: torch.Generator | None = None,
) -> nn.Module:
    """The model ``name`` (one of :data:`PORT_MODEL_NAMES`) on states ``(batch, dim)`` with
    ``inputs`` (``m``) inputs; bind a signal with ``model.with_input(u)``.

    Args:
        name: ``port`` (:class:`PortHamiltonianNN` of an :class:`EnergyMLP`, the dissipation
            ``dissipation`` and the input matrix ``input_matrix``), ``hnn`` (the same energy,
            ``R = 0``, ``G = 0``: a :class:`HamiltonianNN` that accepts and ignores inputs) or
            ``baseline`` (:class:`InputMLPField` of ``(x, u, t)``).
        hidden: hidden widths of the energy (and of the baseline).
        dissipation: one of :data:`DISSIPATION_NAMES` (``port`` only); default damping on
            the momenta, the structure of the systems in :mod:`hamnets.systems`.
        input_matrix: one of :data:`INPUT_MATRIX_NAMES` (``port`` with ``inputs > 0``).
        dissipation_hidden: hidden widths of a network dissipation or input matrix.
        time: the energy takes time, ``H_theta(t, x)`` (:class:`TimeEnergyMLP`), for ``port``;
            ``hnn`` stays an energy of ``x`` alone (the conservative model that ignores t).
        separable: the energy is ``T(p) + V(q)`` (:class:`SeparableEnergy`, with ``time``
            ``T(p) + V(t, q)``), for ``port`` and ``hnn``: the mechanical prior.
        quadratic: add a learned positive semi-definite quadratic form to an energy of ``x``
            (:class:`QuadraticEnergy`, the harmonic prior for where the data end).
        periodic: every position ``q_i`` is an angle: the energy reads ``(cos q, sin q, p)``
            (with ``separable``, ``V`` reads ``(cos q, sin q)``), so
            ``H(q + 2 pi k, p) = H(q, p)`` exactly (:class:`PeriodicEnergy`); not with
            ``quadratic``, a form of ``x`` that is not periodic.
        activation: the hidden layers' activation of the energy and the baseline, one of
            :data:`hamnets.hnn.ACTIVATION_NAMES`.
        generator: the initialisation's only source of randomness (energy first).
    """
    if name not in PORT_MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(PORT_MODEL_NAMES)}.")
    if dissipation not in DISSIPATION_NAMES:
        raise ValueError(
            f"unknown dissipation {dissipation!r}; choose one of {', '.join(DISSIPATION_NAMES)}."
        )
    if input_matrix not in INPUT_MATRIX_NAMES:
        raise ValueError(
            f"unknown input matrix {input_matrix!r}; choose one of {', '.join(INPUT_MATRIX_NAMES)}."
        )
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {activation!r}; choose one of {', '.join(ACTIVATION_NAMES)}."
        )
    act = ACTIVATIONS[activation]
    if name == "baseline":
        return InputMLPField(dim, inputs, tuple(hidden), activation=act, generator=generator)
    if periodic and quadratic:
        raise ValueError(
            "periodic=True makes the energy 2 pi periodic in q; quadratic=True adds a form of "
            "x that is not: choose one."
        )
    time = time and name == "port"
    width = dim // 2 if separable else dim
    angles = dim // 2

    def net(timed: bool, angular: bool = False) -> nn.Module:
        w = width + angles if angular else width  # angles read as (cos q, sin q)
        if timed:
            h = TimeEnergyMLP(w, tuple(hidden), activation=act, generator=generator)
        else:
            h = EnergyMLP(w, tuple(hidden), activation=act, generator=generator)
        return PeriodicEnergy(h, angles) if angular else h

    if separable:  # T(p), then V(q) (or V(t, q))
        energy = SeparableEnergy(net(False), net(time, periodic))
    else:
        energy = net(time, periodic)
    if quadratic:
        if time:
            raise ValueError("quadratic=True adds a form of x; it takes no time-dependent energy.")
        energy = QuadraticEnergy(energy)
    if name == "hnn":
        g = FixedInputMatrix(torch.zeros(dim, inputs)) if inputs else None
        return PortHamiltonianNN(energy, None, g, inputs)
    r = _dissipation(dissipation, dim, dissipation_hidden, generator)
    if not inputs:
        return PortHamiltonianNN(energy, r)
    if input_matrix == "momentum":
        g = MomentumInput(dim // 2, inputs)
    else:
        g = NetworkInputMatrix(dim, inputs, dissipation_hidden, generator=generator)
    return PortHamiltonianNN(energy, r, g, inputs)
