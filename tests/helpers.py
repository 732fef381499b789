"""Shared registries and exact problems for the tests."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import torch

from hamnets.datasets import ImageData, write_idx
from hamnets.hdnn import MODEL_NAMES, build_hdnn
from hamnets.hnn import EnergyMLP, HamiltonianField, HamiltonianNN
from hamnets.integrate import (
    RK4,
    Dopri5,
    Euler,
    ImplicitMidpoint,
    Leapfrog,
    SymplecticEuler,
    Tsit5,
    Yoshida4,
)

#: every H-DNN name the library builds
ALL_HDNN = MODEL_NAMES


def make_model(
    name: str,
    nf: int = 4,
    n_layers: int = 3,
    t_end: float = 0.9,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
):
    """A small random model, in float64 by default."""
    model = build_hdnn(name, nf, n_layers, t_end, generator=torch.Generator().manual_seed(seed))
    return model.to(dtype)


#: every integrator class of hamnets.integrate, built with defaults (fixed-step ones with dt=None).
ALL_INTEGRATORS = (Euler, RK4, SymplecticEuler, Leapfrog, Yoshida4, ImplicitMidpoint, Tsit5, Dopri5)
SYMPLECTIC_INTEGRATORS = tuple(s for s in ALL_INTEGRATORS if s.symplectic)


def integrate_fixed(solver, field, x0: torch.Tensor, t_end: float, n: int) -> torch.Tensor:
    """``n`` steps of size ``t_end / n`` with ``solver.step`` (adaptive solvers too)."""
    x, h = x0, t_end / n
    for _ in range(n):
        x = solver.step(field, x, h)
    return x


def loglog_slope(hs, errors) -> float:
    """Least-squares slope of log(error) against log(h)."""
    lx = torch.tensor([math.log(h) for h in hs], dtype=torch.float64)
    ly = torch.tensor([math.log(e) for e in errors], dtype=torch.float64)
    lx, ly = lx - lx.mean(), ly - ly.mean()
    return float((lx * ly).sum() / (lx * lx).sum())


class NonSeparable(HamiltonianField):
    """``H(q, p) = (q^2 + p^2) / 2 + q^2 p^2 / 4`` (not a sum T(p) + V(q)); closed-form field."""

    def __init__(self) -> None:
        super().__init__(2)

    def hamiltonian(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[:, 0], x[:, 1]
        return 0.5 * (q**2 + p**2) + 0.25 * q**2 * p**2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.exact_field(x)

    def exact_field(self, x: torch.Tensor) -> torch.Tensor:
        q, p = x[:, 0], x[:, 1]
        dh_dq = q + 0.5 * q * p**2
        dh_dp = p + 0.5 * q**2 * p
        return torch.stack([dh_dp, -dh_dq], dim=1)


def random_hnn(dim: int = 4, seed: int = 0, hidden=(16, 16)) -> HamiltonianNN:
    g = torch.Generator().manual_seed(seed)
    return HamiltonianNN(EnergyMLP(dim, hidden, generator=g)).double()


# -- image sets (MNIST format) ------------------------------------------------------------
STEMS = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def tiny_arrays(n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }


def write_set(folder: Path, arrays: dict[str, np.ndarray], *, compress: bool = False) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for role, arr in arrays.items():
        write_idx(folder / (STEMS[role] + (".gz" if compress else "")), arr, compress=compress)
    return folder


def md5s(arrays: dict[str, np.ndarray], tmp: Path) -> dict[str, str]:
    out = {}
    for role, arr in arrays.items():
        path = write_idx(tmp / f"md5-{role}", arr)
        out[role] = hashlib.md5(path.read_bytes()).hexdigest()
        path.unlink()
    return out


def blob_data(n_train: int = 240, n_test: int = 60, seed: int = 0):
    """A learnable task: class k has a bright 6x6 blob at the k-th of 10 places (+ noise)."""
    rng = np.random.default_rng(seed)

    def make(n):
        labels = np.arange(n) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(labels):
            r, c = divmod(int(k), 5)
            images[i, 4 + 12 * r : 10 + 12 * r, 1 + 5 * c : 7 + 5 * c] = 250
        return images, labels.astype(np.int64)

    tr, te = make(n_train), make(n_test)
    return ImageData(tr[0], tr[1], te[0], te[1], tuple(str(k) for k in range(10)))
