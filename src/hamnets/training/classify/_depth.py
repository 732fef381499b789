"""``hamnets gradients --compare``: BSM norms against depth, MLP baseline versus H-DNNs.

For each network, ``||mean_x dy_L/dy_j||_2`` for ``j = 0 .. L`` (batch mean over the training
inputs) at initialisation and after training on the same data, so the vanishing gradients
of the plain MLP and the non-vanishing ones of the H-DNNs show in one picture.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ...analysis import backward_sensitivity, spectral_norm
from ...hdnn import BASELINE_NAMES, DISSIPATIVE_NAMES, MODEL_NAMES, HamiltonianDNN, build_hdnn
from .._session import RunOptions
from ._config import ClassifyConfig
from ._run import fit_classifier, load_data, seeded_generators

__all__ = ["DepthProfile", "compare_depth_profiles", "depth_profile"]

#: every name ``--models`` accepts.
COMPARE_MODELS = BASELINE_NAMES + MODEL_NAMES
#: the default comparison (the published figure): the MLP and the six Hamiltonian H-DNNs; the
#: dissipative ones (whose gradients may vanish) are compared when named in ``--models``.
DEFAULT_COMPARE_MODELS = tuple(m for m in COMPARE_MODELS if m not in DISSIPATIVE_NAMES)


@dataclass(frozen=True)
class DepthProfile:
    """Norms ``||dy_L/dy_j||_2`` (index ``j``, shape ``(L+1,)``) before and after training."""

    model: str
    initial: np.ndarray
    trained: np.ndarray
    test_accuracy: float


def depth_profile(model: HamiltonianDNN, x: torch.Tensor) -> np.ndarray:
    """``(L+1,)`` spectral norms of the batch-mean BSMs ``dy_L/dy_j`` over inputs ``x``."""
    return spectral_norm(backward_sensitivity(model, x, mean=True)).cpu().numpy()


def compare_depth_profiles(
    config: ClassifyConfig,
    models: Sequence[str] = DEFAULT_COMPARE_MODELS,
    *,
    quiet: bool = True,
) -> list[DepthProfile]:
    """Train each of ``models`` as ``config`` says (only the model changes) and measure.

    Args:
        config: the run description shared by all models (data, layers, epochs, seed, ...).
        models: names from ``MLP`` and :data:`hamnets.hdnn.MODEL_NAMES` (default
            :data:`DEFAULT_COMPARE_MODELS`: all but the dissipative ``pH1_J1``, ``pH1_J2``).
        quiet: hide the progress bars.

    Returns:
        One :class:`DepthProfile` per model, in order.
    """
    unknown = [m for m in models if m not in COMPARE_MODELS]
    if unknown or not models:
        raise ValueError(
            f"--models {' '.join(unknown) or '(none)'}: choose from {', '.join(COMPARE_MODELS)}."
        )
    out = []
    for name in models:
        cfg = dataclasses.replace(config, model=name, track_gradients=False)
        gens = seeded_generators(cfg.seed)
        x = load_data(cfg, gens["data"]).x_train  # (n, nf), the same for every model
        # the same generator draws fit_classifier makes, so this is the model it starts from
        init = build_hdnn(name, cfg.nf, cfg.layers, cfg.t_end, generator=gens["init"])
        initial = depth_profile(init, x)
        result = fit_classifier(cfg, RunOptions(folder=False, quiet=quiet))
        trained = depth_profile(result.model, x.to(result.W.device))
        out.append(DepthProfile(name, initial, trained, result.metrics["test_accuracy"]))
    return out
