"""Names of the H-DNN models, as the command line and saved configurations spell them."""

from __future__ import annotations

import torch

from ._base import HamiltonianDNN
from ._h1 import H1
from ._h2 import H2
from ._mlp import MLP
from ._ms1 import MS1
from ._ms2 import MS2
from ._ms3 import MS3

MODEL_NAMES = ("H1_J1", "H1_J2", "H2", "MS1", "MS2", "MS3")
#: Non-Hamiltonian baselines that :func:`build_hdnn` also builds (for comparisons).
BASELINE_NAMES = ("MLP",)


def build_hdnn(
    name: str,
    nf: int,
    n_layers: int,
    t_end: float,
    *,
    generator: torch.Generator | None = None,
) -> HamiltonianDNN:
    """Build an H-DNN from its name (one of :data:`MODEL_NAMES`), or the baseline ``"MLP"``."""
    if name == "H1_J1":
        return H1(nf, n_layers, t_end, j="J1", generator=generator)
    if name == "H1_J2":
        return H1(nf, n_layers, t_end, j="J2", generator=generator)
    classes = {"H2": H2, "MS1": MS1, "MS2": MS2, "MS3": MS3, "MLP": MLP}
    if name not in classes:
        names = ", ".join(MODEL_NAMES + BASELINE_NAMES)
        raise ValueError(f"unknown model {name!r}; choose one of {names}.")
    return classes[name](nf, n_layers, t_end, generator=generator)
