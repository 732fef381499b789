"""``hamnets classify`` on 2D data: configuration, protocols, read-out fit, run, outputs."""

from ._config import DEFAULT_BATCH_SIZE, DEFAULT_EPOCHS, PROTOCOLS, ClassifyConfig
from ._depth import COMPARE_MODELS, DepthProfile, compare_depth_profiles, depth_profile
from ._protocols import JointProtocol, PaperProtocol, paper_lr_factor
from ._readout_fit import AdamReadout
from ._run import ClassifyResult, fit_classifier, load_data, seeded_generators

__all__ = [
    "AdamReadout",
    "COMPARE_MODELS",
    "ClassifyConfig",
    "ClassifyResult",
    "DEFAULT_BATCH_SIZE",
    "DEFAULT_EPOCHS",
    "DepthProfile",
    "JointProtocol",
    "PROTOCOLS",
    "PaperProtocol",
    "compare_depth_profiles",
    "depth_profile",
    "fit_classifier",
    "load_data",
    "paper_lr_factor",
    "seeded_generators",
]
