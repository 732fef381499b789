"""The H-DNN base class: it owns the loop over layers; each model owns one layer step."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

State = tuple[torch.Tensor, ...]
LayerParams = tuple[torch.Tensor, ...]


class HamiltonianDNN(nn.Module):
    """A deep network whose layers are the steps of a discretised ODE ``y' = f(y, t)``.

    Layer ``j`` (``j = 0 .. L-1``) maps ``y_j`` to ``y_{j+1}`` with step size ``h = T / L``.
    Weights of all layers are stacked with the **layer index first**. Subclasses define:

    * ``_stacked()``: the stacked per-layer tensors used by a step (computed once per forward,
      e.g. ``J K_j`` for every layer at once), each of shape ``(L, ...)``;
    * ``_step(state, *params_j)``: one layer on the (possibly split) state;
    * ``structured()``: the full ``K`` of shape ``(L, nf, nf)`` and ``b`` of shape ``(L, nf)``
      in the common form ``y' = J K tanh(K^T y + b)``, used by the smoothness regulariser;
    * optionally ``_split``/``_merge`` when the step works on the two halves of the state.

    Args:
        nf: number of features (state dimension).
        n_layers: number of layers ``L >= 1``.
        t_end: final time ``T > 0``; the step is ``h = T / L``.
        generator: optional ``torch.Generator`` for the N(0, 1) initialisation.
    """

    #: whether one layer is a symplectic map (then ``self.J`` is the structure it preserves).
    symplectic: ClassVar[bool] = False
    #: whether the model splits the state in two halves (then ``nf`` must be even).
    splits_state: ClassVar[bool] = False

    def __init__(self, nf: int, n_layers: int, t_end: float) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(nf, int) or isinstance(nf, bool) or nf < 1:
            raise ValueError(f"{name}: nf must be a positive integer, got nf={nf!r}.")
        if self.splits_state and nf % 2:
            raise ValueError(
                f"{name} splits the state into two halves and needs an even nf, got nf={nf}; "
                f"pass nf={nf + 1} (or {nf - 1})."
            )
        if not isinstance(n_layers, int) or isinstance(n_layers, bool) or n_layers < 1:
            raise ValueError(f"{name}: n_layers must be an integer >= 1, got {n_layers!r}.")
        t_end = float(t_end)
        if not math.isfinite(t_end) or t_end <= 0:
            raise ValueError(f"{name}: t_end must be a finite number > 0, got {t_end!r}.")
        self.nf = nf
        self.n_layers = n_layers
        self.t_end = t_end
        self.h = t_end / n_layers

    # -- construction helpers -------------------------------------------------------------
    @staticmethod
    def _randn(*shape: int, generator: torch.Generator | None) -> nn.Parameter:
        """An N(0, 1) parameter (drawn on the CPU so that a generator makes it reproducible)."""
        return nn.Parameter(torch.randn(*shape, generator=generator))

    # -- what a subclass provides ------------------------------------------------------------
    def _stacked(self) -> LayerParams:
        raise NotImplementedError

    def _step(self, state: State, *params: torch.Tensor) -> State:
        raise NotImplementedError

    def structured(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Full ``K`` (L, nf, nf) and ``b`` (L, nf) in ``y' = J K tanh(K^T y + b)``."""
        raise NotImplementedError

    def _split(self, y: torch.Tensor) -> State:
        if self.splits_state:
            n = self.nf // 2
            return (y[..., :n], y[..., n:])
        return (y,)

    def _merge(self, state: State) -> torch.Tensor:
        return torch.cat(state, dim=-1) if len(state) > 1 else state[0]

    # -- the one layer loop ------------------------------------------------------------------
    def forward(
        self,
        y: torch.Tensor,
        start: int = 0,
        stop: int | None = None,
        return_states: bool = False,
    ) -> torch.Tensor:
        """Run layers ``[start, stop)``.

        Args:
            y: states of shape ``(batch, nf)``.
            start, stop: first layer and one past the last (default: all layers).
            return_states: also return every intermediate state.

        Returns:
            ``y_stop`` of shape ``(batch, nf)``, or, with ``return_states``, the states
            ``y_start .. y_stop`` stacked as ``(stop - start + 1, batch, nf)``.
        """
        stop = self.n_layers if stop is None else stop
        if not 0 <= start <= stop <= self.n_layers:
            raise ValueError(
                f"layers [start, stop) must satisfy 0 <= start <= stop <= {self.n_layers}, "
                f"got start={start}, stop={stop}."
            )
        if y.dim() != 2 or y.shape[-1] != self.nf:
            raise ValueError(
                f"{type(self).__name__} expects states of shape (batch, {self.nf}), "
                f"got {tuple(y.shape)}."
            )
        per_layer = [p.unbind(0) for p in self._stacked()]  # each: L tensors
        state = self._split(y)
        states = [y] if return_states else None
        for j in range(start, stop):
            state = self._step(state, *(p[j] for p in per_layer))
            if states is not None:
                states.append(self._merge(state))
        if states is not None:
            return torch.stack(states)  # (stop - start + 1, batch, nf)
        return self._merge(state)

    # -- one layer at a time, for analysis (the loop above stays the only layer loop) ------
    def layer_params(self) -> LayerParams:
        """The per-layer parameters as the step uses them, each stacked as ``(L, ...)``.

        Slice ``j`` of every tensor (``[p[j] for p in model.layer_params()]``) is what
        :meth:`layer_step` needs for layer ``j``.
        """
        return self._stacked()

    def layer_step(self, y: torch.Tensor, *params_j: torch.Tensor) -> torch.Tensor:
        """One layer ``y_{j+1} = Phi_j(y_j)`` on full states, with layer ``j``'s parameters.

        Args:
            y: states ``y_j`` of shape ``(batch, nf)``.
            params_j: slice ``j`` of each tensor of :meth:`layer_params`.

        Returns:
            ``y_{j+1}`` of shape ``(batch, nf)``; the same numbers as ``forward(y, j, j + 1)``.
        """
        return self._merge(self._step(self._split(y), *params_j))

    # -- the smoothness regulariser ----------------------------------------------------------
    def regularizer(self, alpha: float) -> torch.Tensor:
        """``R = alpha h sum_j (0.5 ||K_{j+1} - K_j||_F^2 + 0.5 ||b_{j+1} - b_j||^2)``.

        Computed over the full structured ``K`` and ``b`` of :meth:`structured` (for MS
        models the zero and mirrored blocks count, as in the papers).
        """
        K, b = self.structured()
        dK = K[1:] - K[:-1]  # (L-1, nf, nf)
        db = b[1:] - b[:-1]  # (L-1, nf)
        return alpha * self.h * 0.5 * (dK.pow(2).sum() + db.pow(2).sum())

    def extra_repr(self) -> str:
        return f"nf={self.nf}, n_layers={self.n_layers}, t_end={self.t_end:g}, h={self.h:g}"
