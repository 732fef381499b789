"""Random excitations for data: sums of sinusoids with random amplitudes, frequencies, phases."""

from __future__ import annotations

import math

import torch

from ._signal import Signal

__all__ = ["SinusoidExcitation", "random_sinusoids"]


class SinusoidExcitation(Signal):
    """A sum of sinusoids per input trajectory:
    ``u_b(t) = sum_k a_bk * sin(w_bk t + phi_bk)`` (each of the ``m`` inputs its own sum).

    Args:
        amplitudes, frequencies, phases: ``(batch, K, m)`` each; ``frequencies`` are angular
            (radians per unit time). Differentiable with respect to all three.

    Calling it at a scalar ``t`` returns ``(batch, m)``; :meth:`sample` at times ``(T,)``
    returns ``(batch, T, m)``.
    """

    def __init__(
        self, amplitudes: torch.Tensor, frequencies: torch.Tensor, phases: torch.Tensor
    ) -> None:
        shapes = {tuple(x.shape) for x in (amplitudes, frequencies, phases)}
        if len(shapes) != 1 or amplitudes.ndim != 3:
            raise ValueError(
                "amplitudes, frequencies and phases must share one shape (batch, K, m), got "
                f"{[tuple(x.shape) for x in (amplitudes, frequencies, phases)]}."
            )
        self.amplitudes, self.frequencies, self.phases = amplitudes, frequencies, phases
        self.batch, self.inputs = amplitudes.shape[0], amplitudes.shape[2]

    def __call__(self, t: float | torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=self.amplitudes.dtype, device=self.amplitudes.device)
        if t.ndim != 0:
            raise ValueError(f"a signal takes a scalar time, got shape {tuple(t.shape)}.")
        return (self.amplitudes * torch.sin(self.frequencies * t + self.phases)).sum(1)

    def sample(self, t: torch.Tensor) -> torch.Tensor:
        t = torch.as_tensor(t, dtype=self.amplitudes.dtype)[None, :, None, None]  # (1, T, 1, 1)
        a, w, phi = (x[:, None] for x in (self.amplitudes, self.frequencies, self.phases))
        return (a * torch.sin(w * t + phi)).sum(2)  # (batch, T, K, m) -> (batch, T, m)

    def __getitem__(self, index) -> SinusoidExcitation:
        return SinusoidExcitation(
            self.amplitudes[index], self.frequencies[index], self.phases[index]
        )


def _check_range(name: str, r: tuple[float, float]) -> tuple[float, float]:
    lo, hi = (float(v) for v in r)
    if not (math.isfinite(lo) and math.isfinite(hi) and lo <= hi):
        raise ValueError(f"{name} must be a finite range (lo, hi) with lo <= hi, got {r!r}.")
    return lo, hi


def random_sinusoids(
    batch: int,
    generator: torch.Generator,
    *,
    inputs: int = 1,
    terms: int = 3,
    amplitude: tuple[float, float] = (0.0, 0.5),
    frequency: tuple[float, float] = (0.5, 2.0),
    dtype: torch.dtype = torch.float64,
) -> SinusoidExcitation:
    """``batch`` independent excitations, each a sum of ``terms`` sinusoids per input with
    amplitudes ``U[amplitude]``, angular frequencies ``U[frequency]`` and phases ``U[0, 2 pi)``,
    drawn in that order from ``generator`` (the only source of randomness).

    Returns:
        a :class:`SinusoidExcitation` of parameters ``(batch, terms, inputs)``.
    """
    for name, v in (("batch", batch), ("inputs", inputs), ("terms", terms)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name} must be a positive integer, got {v!r}.")
    if not isinstance(generator, torch.Generator):
        raise ValueError("random_sinusoids needs a torch.Generator (no global random state).")
    shape = (batch, terms, inputs)

    def uniform(lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(shape, generator=generator, dtype=dtype)

    a = uniform(*_check_range("amplitude", amplitude))
    w = uniform(*_check_range("frequency", frequency))
    phi = uniform(0.0, 2 * math.pi)
    return SinusoidExcitation(a, w, phi)
