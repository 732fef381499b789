"""Known input signals ``u(t)`` for driven (port-Hamiltonian) systems.

A signal maps a scalar time ``t`` to inputs of shape ``(batch, m)``: one input trajectory per
sample of a batch of states. Signals are plain objects holding tensors (not modules): they are
data, not learned state, and do not enter a model's ``state_dict``.

* :class:`Signal`, :class:`FunctionSignal`, :func:`as_signal`: the contract, a callable.
* :class:`LinearInterpolation`, :class:`CubicInterpolation`: a signal from samples.
* :class:`SinusoidExcitation`, :func:`random_sinusoids`: seeded random excitations for data.
"""

from ._excitation import SinusoidExcitation, random_sinusoids
from ._interpolate import CubicInterpolation, LinearInterpolation
from ._signal import FunctionSignal, Signal, as_signal

__all__ = [
    "Signal",
    "FunctionSignal",
    "as_signal",
    "LinearInterpolation",
    "CubicInterpolation",
    "SinusoidExcitation",
    "random_sinusoids",
]
