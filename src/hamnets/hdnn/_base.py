"""The H-DNN base class: it owns the loop over layers; each model owns one layer step."""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from ._fused import LayerParams, State, _functorch_active, _FusedLayers, _Workspace, runs_on_numpy
from ._smoothness import smoothness


class HamiltonianDNN(nn.Module):
    """A deep network whose layers are the steps of a discretised ODE ``y' = f(y, t)``.

    Layer ``j`` (``j = 0 .. L-1``) maps ``y_j`` to ``y_{j+1}`` with step size ``h = T / L``.
    Weights of all layers are stacked with the **layer index first**. Subclasses define:

    * ``_stacked()``: the stacked per-layer tensors used by a step (computed once per forward,
      e.g. ``J K_j`` for every layer at once), each of shape ``(L, ...)``;
    * ``_step(state, *params_j)``: one layer on the (possibly split) state;
    * ``structured()``: the full ``K`` of shape ``(L, nf, nf)`` and ``b`` of shape ``(L, nf)``
      in the common form ``y' = J K tanh(K^T y + b)``, used by the smoothness regulariser;
    * optionally ``_split``/``_merge`` when the step works on the two halves of the state;
    * optionally the fused path: ``_fused_params()``, ``_fused_step`` and ``_fused_backward``,
      the same layer on channels-first states ``(nf, N)`` with its backward written out
      (built from the half-steps of :mod:`._halfsteps`); the base runs them as one autograd
      node (:meth:`forward_channels_first`, and :meth:`forward` when ``fused``).

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
    #: whether :meth:`forward` runs the fused layers (one autograd node with a hand-written
    #: backward) where the model provides them; ``False`` runs the plain layer loop, whose
    #: numbers the fused path equals to float rounding. Set per instance. Off by default
    #: until the recorded figures of docs/results.md are re-run with it (float rounding moves
    #: training trajectories, so the published accuracies would move in their last digits).
    fused: bool = False
    #: the fused node has a fixed cost (setting up, stacking the weight gradients: about
    #: 0.1-0.2 ms on one core), so it runs when it pays: from this many layers, or from
    #: ``fused_min_columns`` states (the per-pixel stacks, where it saves memory traffic).
    #: Measured at batch 125, nf 4: 8-22% faster from 16 layers, 20% slower at 4 layers.
    fused_min_layers: ClassVar[int] = 8
    fused_min_columns: ClassVar[int] = 16384
    #: up to this many states (on a CPU, float32/64) the fused node runs its layers in numpy,
    #: whose per-operation overhead is several times below torch's (see :mod:`._fused`).
    numpy_max_columns: ClassVar[int] = 2048

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
        self._workspace = _Workspace()  # reused memory of the fused node (not state)

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

    # -- the fused path: what a subclass provides (optional) --------------------------------
    # States are channels first, ``(nf, N)``: one column per sample, halves are row blocks.
    def _fused_params(self) -> LayerParams:
        """The stacked ``(L, ...)`` tensors :meth:`_fused_step` takes, built with autograd
        from the parameters (the fused node returns their gradients)."""
        raise NotImplementedError

    def _fused_grad_scales(self) -> tuple[float, ...] | None:
        """Factors applied once to the stacked gradients :meth:`_fused_backward` returns (a
        step size left out of every layer's gradient), one per :meth:`_fused_params`; None:
        no factors."""
        return None

    #: whether the fused node runs the model's C stack where it has one and can (MS1 on a CPU
    #: in float32, :mod:`._cstack`; otherwise the torch path). Set per instance.
    use_c: bool = True

    def _c_stack(self, y: torch.Tensor, params: LayerParams) -> bool:
        """Whether the fused node runs :meth:`_c_forward` / :meth:`_c_backward` on states
        ``y`` ``(nf, N)`` with the stacked ``params`` of :meth:`_fused_params` (no C stack by
        default)."""
        return False

    def _c_buffer_shape(self, y: torch.Tensor, params: LayerParams) -> tuple[int, ...]:
        """The shape of the float buffer :meth:`_c_forward` fills for :meth:`_c_backward`."""
        raise NotImplementedError

    def _c_forward(
        self, y: torch.Tensor, out: torch.Tensor, params: LayerParams, buf: torch.Tensor | None
    ) -> None:
        """All layers in C: ``y_L`` into ``out`` ``(nf, N)``; what the backward reads into
        ``buf`` (:meth:`_c_buffer_shape`), None where no backward comes."""
        raise NotImplementedError

    def _c_backward(
        self, y: torch.Tensor, params: LayerParams, g_out: torch.Tensor, buf: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """The backward of :meth:`_c_forward` from ``g_out = dL/dy_L``: returns ``dL/dy`` and
        the gradients of ``params`` (scaled: :meth:`_fused_grad_scales` is not applied)."""
        raise NotImplementedError

    def _fused_step(
        self, state: State, new: State, act: torch.Tensor, *params: torch.Tensor
    ) -> None:
        """One layer on channels-first (half-)states: writes ``y_{j+1}`` into ``new`` and the
        layer's activations (``nf`` rows in all) into ``act`` ``(nf, N)``, kept for the
        backward. See :mod:`._halfsteps`."""
        raise NotImplementedError

    def _fused_backward(
        self,
        state: State,
        new_state: State,
        grads: State,
        act: torch.Tensor,
        t: torch.Tensor,
        u: torch.Tensor,
        params: LayerParams,
        params_t: tuple[torch.Tensor | None, ...],
    ) -> tuple[torch.Tensor, ...]:
        """One layer's backward: ``grads`` holds ``dL/dy_{j+1}`` and is turned **in place**
        into ``dL/dy_j``; returns ``dL/dparams_j`` (divided by :meth:`_fused_grad_scales`).
        ``act``: what :meth:`_fused_step` wrote (read only); ``t``, ``u``: ``(nf, N)``
        workspaces; ``params``: layer ``j``'s slices of :meth:`_fused_params`, ``params_t``
        the same matrices transposed (None for vectors)."""
        raise NotImplementedError

    @property
    def has_fused(self) -> bool:
        """Whether the model provides a fused step (all the H-DNNs do; the MLP does not)."""
        return type(self)._fused_step is not HamiltonianDNN._fused_step

    def _runs_fused(self, n_layers: int, n_states: int) -> bool:
        """Whether ``n_layers`` layers on ``n_states`` states run as the fused node."""
        if not (self.fused and self.has_fused) or n_layers < 1:
            return False
        return n_layers >= self.fused_min_layers or n_states >= self.fused_min_columns

    def _split_columns(self, y: torch.Tensor) -> State:
        if self.splits_state:
            n = self.nf // 2
            return (y[:n], y[n:])
        return (y,)

    def _merge_columns(self, state: State) -> torch.Tensor:
        return torch.cat(state, dim=0) if len(state) > 1 else state[0]

    def forward_channels_first(
        self, y: torch.Tensor, start: int = 0, stop: int | None = None
    ) -> torch.Tensor:
        """Layers ``[start, stop)`` on states stored as columns: ``(nf, N) -> (nf, N)``.

        The same map as :meth:`forward` on ``y.t()``; with ``fused`` (and a model that
        provides a fused step, and enough work: see ``fused_min_layers``) the layers run as one
        autograd node whose products are ``(nf, nf) @ (nf, N)``, the layout that suits many
        small states (e.g. the pixels of a feature map).
        """
        stop = self.n_layers if stop is None else stop
        self._check_range(start, stop)
        if y.dim() != 2 or y.shape[0] != self.nf:
            raise ValueError(
                f"{type(self).__name__}.forward_channels_first expects states of shape "
                f"({self.nf}, N), got {tuple(y.shape)}."
            )
        if start == stop:
            return y
        if not self._runs_fused(stop - start, y.shape[1]) or _functorch_active():
            # (vmap / jacrev need rules the fused node does not have: the loop has them)
            return self._loop(y.t(), start, stop).t()
        params = self._fused_params()
        if start or stop != self.n_layers:  # (slices are autograd nodes: only when needed)
            params = tuple(p[start:stop] for p in params)
        keep = torch.is_grad_enabled() and any(t.requires_grad for t in (y, *params))
        numpy = runs_on_numpy(y, params, self.numpy_max_columns)
        return _FusedLayers.apply(self, keep, numpy, y, *params)

    def _check_range(self, start: int, stop: int) -> None:
        if not 0 <= start <= stop <= self.n_layers:
            raise ValueError(
                f"layers [start, stop) must satisfy 0 <= start <= stop <= {self.n_layers}, "
                f"got start={start}, stop={stop}."
            )

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

        With ``fused`` (the default) and without ``return_states`` the layers run as one
        autograd node (see :meth:`forward_channels_first`); the result then is a transposed
        view of a channels-first tensor.
        """
        stop = self.n_layers if stop is None else stop
        self._check_range(start, stop)
        if y.dim() != 2 or y.shape[-1] != self.nf:
            raise ValueError(
                f"{type(self).__name__} expects states of shape (batch, {self.nf}), "
                f"got {tuple(y.shape)}."
            )
        if not return_states and self._runs_fused(stop - start, y.shape[0]):
            return self.forward_channels_first(y.t(), start, stop).t()  # (batch, nf)
        return self._loop(y, start, stop, return_states)

    def _loop(
        self, y: torch.Tensor, start: int, stop: int, return_states: bool = False
    ) -> torch.Tensor:
        """The plain layer loop on ``(batch, nf)`` states (see :meth:`forward`)."""
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
    def regularizer(self, alpha: float, *, node: bool = False) -> torch.Tensor:
        """``R = alpha h sum_j (0.5 ||K_{j+1} - K_j||_F^2 + 0.5 ||b_{j+1} - b_j||^2)``.

        Computed over the full structured ``K`` and ``b`` of :meth:`structured` (for MS
        models the zero and mirrored blocks count, as in the papers). With ``node`` the sum
        and its gradient are one autograd node (:func:`._smoothness.smoothness`: numpy on a
        CPU; the same value to float rounding, not twice differentiable).
        """
        K, b = self.structured()
        if node:
            return smoothness(alpha * self.h, K, b)
        dK = K[1:] - K[:-1]  # (L-1, nf, nf)
        db = b[1:] - b[:-1]  # (L-1, nf)
        return alpha * self.h * 0.5 * (dK.pow(2).sum() + db.pow(2).sum())

    def extra_repr(self) -> str:
        return f"nf={self.nf}, n_layers={self.n_layers}, t_end={self.t_end:g}, h={self.h:g}"
