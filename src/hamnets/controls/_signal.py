"""The signal contract: a known input ``u(t)`` of shape ``(batch, m)``."""

from __future__ import annotations

from collections.abc import Callable

import torch

__all__ = ["Signal", "FunctionSignal", "as_signal"]


class Signal:
    """A known input ``u(t)``: a scalar time -> inputs ``(batch, m)``.

    ``batch`` is the number of input trajectories (one per sample of a batch of states; a
    signal with ``batch == 1`` drives every sample alike). Subclasses provide :meth:`__call__`
    and may vectorise :meth:`sample`.

    Attributes:
        batch: input trajectories.
        inputs: input dimension ``m``.
    """

    batch: int
    inputs: int

    def __call__(self, t: float | torch.Tensor) -> torch.Tensor:
        """``u(t)``: ``t`` a scalar (tensor or number) -> ``(batch, m)``."""
        raise NotImplementedError

    def sample(self, t: torch.Tensor) -> torch.Tensor:
        """The signal at the times ``t`` ``(T,)``: ``(batch, T, m)``."""
        return torch.stack([self(s) for s in t], dim=1)  # (batch, T, m)

    def __getitem__(self, index) -> Signal:
        """The input trajectories ``index`` (a slice or indices) of the batch, as a signal."""
        raise NotImplementedError(f"{type(self).__name__} cannot select input trajectories.")


class FunctionSignal(Signal):
    """A signal from a callable ``fn(t) -> (batch, m)`` (or ``(m,)``, read as batch 1).

    Args:
        fn: called with a scalar tensor ``t``; differentiable if ``fn`` is.
        inputs: the input dimension ``m`` that ``fn`` returns (checked on every call).
    """

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor], inputs: int) -> None:
        if not callable(fn):
            raise ValueError(f"FunctionSignal needs a callable fn(t), got {type(fn).__name__}.")
        if not isinstance(inputs, int) or isinstance(inputs, bool) or inputs < 1:
            raise ValueError(f"inputs must be a positive integer m, got {inputs!r}.")
        self.fn = fn
        self.inputs = inputs
        self.batch = 1

    def __call__(self, t: float | torch.Tensor) -> torch.Tensor:
        u = self.fn(torch.as_tensor(t))
        if u.ndim == 1:
            u = u[None]  # (m,) -> (1, m)
        if u.ndim != 2 or u.shape[1] != self.inputs:
            raise ValueError(
                f"the input function must return (batch, {self.inputs}) or ({self.inputs},), "
                f"got {tuple(u.shape)}."
            )
        return u


def as_signal(u: Signal | Callable[[torch.Tensor], torch.Tensor], inputs: int) -> Signal:
    """``u`` as a :class:`Signal` of ``m = inputs`` (a callable is wrapped in
    :class:`FunctionSignal`); a signal of another input dimension is refused."""
    if isinstance(u, Signal):
        if u.inputs != inputs:
            raise ValueError(
                f"the signal gives {u.inputs} inputs, the model takes m={inputs}; "
                "build the signal with the model's input dimension."
            )
        return u
    return FunctionSignal(u, inputs)
