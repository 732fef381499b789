"""Names of the H-DNN models, as the command line and saved configurations spell them."""

from __future__ import annotations

import torch

from ._base import HamiltonianDNN
from ._graph import Graph
from ._h1 import H1
from ._h2 import H2
from ._h2_graph import GraphH2
from ._mlp import MLP
from ._ms1 import MS1
from ._ms2 import MS2
from ._ms3 import MS3
from ._ph1 import DissipativeH1

#: The dissipative (port-Hamiltonian) H1 models, :class:`DissipativeH1` with J1 or J2.
DISSIPATIVE_NAMES = ("pH1_J1", "pH1_J2")
MODEL_NAMES = ("H1_J1", "H1_J2", "H2", "MS1", "MS2", "MS3", *DISSIPATIVE_NAMES)
#: Non-Hamiltonian baselines that :func:`build_hdnn` also builds (for comparisons).
BASELINE_NAMES = ("MLP",)


def build_hdnn(
    name: str,
    nf: int,
    n_layers: int,
    t_end: float,
    *,
    graph: Graph | str | None = None,
    generator: torch.Generator | None = None,
) -> HamiltonianDNN:
    """Build an H-DNN from its name (one of :data:`MODEL_NAMES`), or the baseline ``"MLP"``.

    With ``graph`` (a :class:`Graph` or a spec such as ``"ring:8"``), ``name`` must be ``"H2"``
    and the result is a :class:`GraphH2` with ``nf = 2 x nodes``.
    """
    if graph is not None:
        if name != "H2":
            raise ValueError(f"a graph structure is defined for H2 only, got model {name!r}.")
        model = GraphH2(graph, n_layers, t_end, generator=generator)
        if model.nf != nf:
            raise ValueError(
                f"graph {model.graph} has {model.n_nodes} nodes, so nf must be {model.nf}, "
                f"got nf={nf}."
            )
        return model
    if name == "H1_J1":
        return H1(nf, n_layers, t_end, j="J1", generator=generator)
    if name == "H1_J2":
        return H1(nf, n_layers, t_end, j="J2", generator=generator)
    if name in DISSIPATIVE_NAMES:  # dissipative H1: (J - R_j) in place of J
        return DissipativeH1(nf, n_layers, t_end, j=name[-2:], generator=generator)
    classes = {"H2": H2, "MS1": MS1, "MS2": MS2, "MS3": MS3, "MLP": MLP}
    if name not in classes:
        names = ", ".join(MODEL_NAMES + BASELINE_NAMES)
        raise ValueError(f"unknown model {name!r}; choose one of {names}.")
    return classes[name](nf, n_layers, t_end, generator=generator)
