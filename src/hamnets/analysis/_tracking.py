"""Gradient norms against depth, recorded during training (``classify --track-gradients``).

Depth ``l`` counts layers back from the output: the norm at depth ``l`` is
``||mean_batch dy_L / dy_{L-l}||_2``, ``l = 0 .. L`` (``l = 0`` is the identity, norm 1). For
a symplectic network (H2, MS3) every per-sample BSM has norm >= 1, the lower bound the plot
draws; the batch mean of symplectic matrices need not be symplectic, so its norm may dip
below 1 when samples disagree.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from .._npz import load_npz
from ..hdnn import HamiltonianDNN
from ._sensitivity import backward_sensitivity

__all__ = ["GradientRecorder", "depth_norms", "load_gradients", "save_gradients"]


def depth_norms(model: HamiltonianDNN, y0: torch.Tensor) -> torch.Tensor:
    """Spectral norms of the batch-mean BSMs by depth.

    Args:
        model: an H-DNN or the MLP baseline with ``L`` layers.
        y0: a batch of inputs ``(batch, nf)``.

    Returns:
        ``(L+1,)``: index ``l`` is ``||mean_b dy_L/dy_{L-l}||_2``.
    """
    bsm = backward_sensitivity(model, y0, mean=True)  # (L+1, nf, nf), index j
    return torch.linalg.matrix_norm(bsm, ord=2).flip(0)  # index l = L - j


def save_gradients(path: str | os.PathLike, iterations, norms, **meta: str) -> Path:
    """Write ``iterations`` (n,) and ``norms`` (n, L+1) to an ``.npz``, atomically.

    Extra keyword arguments (strings, e.g. ``model="H2"``) are stored alongside.
    """
    iterations = np.asarray(iterations, dtype=np.int64)
    norms = np.asarray(norms, dtype=np.float64)
    if norms.ndim != 2 or norms.shape[0] != iterations.shape[0]:
        raise ValueError(
            f"norms must have shape (n_iter={iterations.shape[0]}, L+1), got {norms.shape}."
        )
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez(tmp, iterations=iterations, norms=norms, **{k: np.str_(v) for k, v in meta.items()})
    os.replace(tmp, path)
    return path


def load_gradients(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a ``gradients.npz``: ``iterations`` (n,), ``norms`` (n, L+1) and any metadata."""
    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise FileNotFoundError(
            f"{path} not found; record it with `hamnets classify ... --track-gradients`."
        )
    hint = "record one with `hamnets classify ... --track-gradients`"
    out = load_npz(path, needs=("iterations", "norms"), hint=hint)
    if out["norms"].ndim != 2 or out["iterations"].shape[:1] != out["norms"].shape[:1]:
        raise ValueError(f"{path} is not a gradients file (needs iterations and norms (n, L+1)).")
    return out


class GradientRecorder:
    """Collects :func:`depth_norms` once per training iteration.

    ``record(step, model, x)`` appends one row; ``iterations`` (n,) and ``norms`` (n, L+1)
    return what was collected. ``state_dict``/``load_state_dict`` let a checkpoint carry it.
    """

    def __init__(self) -> None:
        self._steps: list[int] = []
        self._norms: list[np.ndarray] = []

    def record(self, step: int, model: HamiltonianDNN, x: torch.Tensor) -> None:
        """Append the depth norms of ``model`` on the mini-batch ``x`` (batch, nf)."""
        norms = depth_norms(model, x).cpu().numpy()
        if self._norms and norms.shape != self._norms[0].shape:
            raise ValueError(f"expected {self._norms[0].shape[0]} depths, got {norms.shape[0]}.")
        self._steps.append(int(step))
        self._norms.append(norms)

    def __len__(self) -> int:
        return len(self._steps)

    @property
    def iterations(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.int64)

    @property
    def norms(self) -> np.ndarray:
        if not self._norms:
            return np.zeros((0, 0))
        return np.stack(self._norms)  # (n_iter, L+1)

    def save(self, path: str | os.PathLike, **meta: str) -> Path:
        return save_gradients(path, self.iterations, self.norms, **meta)

    def state_dict(self) -> dict:
        """Tensors only, so a checkpoint holding it loads with ``weights_only=True``."""
        return {
            "iterations": torch.from_numpy(self.iterations),
            "norms": torch.from_numpy(self.norms),
        }

    def load_state_dict(self, state: dict) -> None:
        self._steps = [int(s) for s in state["iterations"]]
        norms = state["norms"]
        norms = norms.numpy() if isinstance(norms, torch.Tensor) else norms
        self._norms = list(np.asarray(norms, dtype=np.float64))
