"""``TimeEnergyMLP``: a learned time-dependent energy ``H_theta(t, x)``."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._mlp import MLP, Init, orthogonal_init


class TimeEnergyMLP(nn.Module):
    """An energy of time and state, ``H_theta(t, x)``: an MLP of the state and of Fourier
    features of ``t`` to one scalar.

    Called ``energy(t, x)`` (so :class:`HamiltonianNN` and :class:`PortHamiltonianNN` make it
    a time-dependent field by :func:`hamnets._field.takes_time`). ``t`` is a scalar shared by
    the batch, or one time per sample ``(batch,)`` (derivative regression on pairs saved at
    different times). The output layer has no bias (a constant in ``H`` moves no field).

    Time enters as ``sin(w_k t)``, ``cos(w_k t)`` for ``k = 1..frequencies`` learned angular
    frequencies ``w_k``, drawn ``U[0, max_frequency]`` (random Fourier features, Tancik et al.
    2020): a tanh MLP of raw ``t`` spreads a modulation that repeats a few times over the data
    thinly over its units and learns it slowly; sines of ``t`` make it one feature away.
    ``frequencies=0`` feeds raw ``t`` instead.

    Args:
        dim: state dimension ``2n`` (the network sees ``2n + 2 * frequencies`` inputs).
        hidden: hidden widths, default ``(200, 200)``.
        frequencies: Fourier features of ``t`` (default 16; 0: raw ``t``).
        max_frequency: the initial frequencies' range.
        activation, init, generator: as for :class:`hamnets.hnn.MLP` (the frequencies are
            drawn first).

    Attributes:
        in_features: ``dim``, the state dimension (read by :class:`HamiltonianNN`).
    """

    def __init__(
        self,
        dim: int,
        hidden: Sequence[int] = (200, 200),
        *,
        frequencies: int = 16,
        max_frequency: float = 4.0,
        activation: Callable[[], nn.Module] = nn.Tanh,
        init: Init = orthogonal_init,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(dim, int) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}.")
        if not isinstance(frequencies, int) or isinstance(frequencies, bool) or frequencies < 0:
            raise ValueError(f"frequencies must be an integer >= 0, got {frequencies!r}.")
        self.in_features = dim
        self.omega = None
        if frequencies:
            w = max_frequency * torch.rand(frequencies, generator=generator)  # (K,)
            self.omega = nn.Parameter(w)
        width = dim + (2 * frequencies if frequencies else 1)
        self.net = MLP(
            width, hidden, 1, activation=activation, init=init, generator=generator,
            output_bias=False,
        )  # fmt: skip

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """``H_theta(t, x)``: ``t`` scalar or ``(batch,)``, ``x`` ``(batch, 2n)`` ->
        ``(batch,)``."""
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
        if t.ndim == 0 or t.numel() == 1:
            col = t.reshape(1, 1).expand(x.shape[0], 1)  # (batch, 1)
        elif t.shape == (x.shape[0],):
            col = t[:, None]  # (batch, 1)
        else:
            raise ValueError(
                f"TimeEnergyMLP takes a scalar t or one per sample ({x.shape[0]},), "
                f"got {tuple(t.shape)}."
            )
        if self.omega is not None:
            wt = col * self.omega.to(x.dtype)  # (batch, K)
            col = torch.cat([torch.sin(wt), torch.cos(wt)], dim=1)  # (batch, 2K)
        return self.net(torch.cat([x, col], dim=1)).squeeze(-1)  # (batch, width) -> (batch,)
