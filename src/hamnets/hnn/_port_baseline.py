"""``InputMLPField``: the unconstrained baseline for driven systems, an MLP of (x, u(t), t)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ._mlp import MLP, Init, orthogonal_init


class InputMLPField(nn.Module):
    """Baseline field ``dx/dt = g_theta(x, u(t), t)``: no structure, no energy balance.

    The driven counterpart of :class:`MLPField`: the MLP sees the state ``(batch, dim)``, the
    input ``(batch, m)`` and (with ``time=True``) the time, concatenated. Called ``f(t, x)``
    with the bound ``signal``; :meth:`field` takes ``u`` explicitly.

    Args:
        dim: state dimension.
        inputs: ``m >= 0``.
        hidden: hidden widths, default ``(200, 200)``.
        time: feed ``t`` to the network.
        signal: ``u(t) -> (batch, m)``; or bind one later with :meth:`with_input`.
        activation, init, generator: as for :class:`hamnets.hnn.MLP`.
    """

    separable = False
    time_dependent = True

    def __init__(
        self,
        dim: int,
        inputs: int,
        hidden: Sequence[int] = (200, 200),
        *,
        time: bool = True,
        signal: Callable | None = None,
        activation: Callable[[], nn.Module] = nn.Tanh,
        init: Init = orthogonal_init,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(inputs, int) or isinstance(inputs, bool) or inputs < 0:
            raise ValueError(f"inputs must be the input dimension m >= 0, got {inputs!r}.")
        self.dim, self.inputs, self.time = dim, inputs, bool(time)
        self.signal = signal
        width = dim + inputs + int(self.time)
        self.net = MLP(width, hidden, dim, activation=activation, init=init, generator=generator)

    def field(self, t: torch.Tensor, x: torch.Tensor, u: torch.Tensor | None) -> torch.Tensor:
        """``g_theta(x, u, t)``: ``t`` a scalar or ``(batch,)``, states ``(batch, dim)``, inputs
        ``(batch, m)`` (or ``(1, m)``; ``None`` when ``m = 0``) -> ``(batch, dim)``."""
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(
                f"InputMLPField expects states of shape (batch, {self.dim}), got {tuple(x.shape)}."
            )
        b = x.shape[0]
        cols = [x]
        if self.inputs:
            if u is None or u.ndim != 2 or u.shape[1] != self.inputs or u.shape[0] not in (1, b):
                got = None if u is None else tuple(u.shape)
                raise ValueError(
                    f"InputMLPField needs inputs of shape ({b}, {self.inputs}), got {got}."
                )
            cols.append(u.to(x.dtype).expand(b, -1))
        if self.time:
            t = torch.as_tensor(t, dtype=x.dtype, device=x.device)
            if t.numel() == 1:
                cols.append(t.reshape(1, 1).expand(b, 1))
            elif t.shape == (b,):  # one time per sample (pairs saved at different times)
                cols.append(t[:, None])
            else:
                raise ValueError(
                    f"InputMLPField takes a scalar t or one per sample ({b},), got "
                    f"{tuple(t.shape)}."
                )
        return self.net(torch.cat(cols, dim=1))  # (batch, dim + m + 1) -> (batch, dim)

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The field driven by the bound signal: ``(batch, dim)`` -> ``(batch, dim)``."""
        if self.inputs and self.signal is None:
            raise ValueError(
                f"InputMLPField takes m={self.inputs} inputs but none is bound; pass signal=u "
                "or integrate model.with_input(u)."
            )
        u = self.signal(torch.as_tensor(t, dtype=x.dtype)) if self.inputs else None
        return self.field(t, x, u)

    def with_input(self, signal: Callable) -> _Driven:
        """This field driven by ``signal``, sharing its parameters."""
        return _Driven(self, signal)


class _Driven(nn.Module):
    """An :class:`InputMLPField` bound to a signal: ``f(t, x)``."""

    def __init__(self, model: InputMLPField, signal: Callable) -> None:
        super().__init__()
        if not callable(signal):
            raise ValueError(f"the signal must be callable as u(t), got {signal!r}.")
        self.model, self.signal = model, signal

    def forward(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.model.field(t, x, self.signal(torch.as_tensor(t, dtype=x.dtype)))
