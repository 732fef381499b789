"""Shared registries and exact problems for the tests."""

from __future__ import annotations

import torch

from hamnets.hdnn import MODEL_NAMES, build_hdnn

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
