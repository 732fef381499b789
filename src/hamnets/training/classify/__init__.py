"""``hamnets classify`` on 2D data: configuration, protocols, read-out fit, run, outputs."""

from ..._lazy import lazy_exports

_EXPORTS = {
    "ClassifyConfig": "._config",
    "DEFAULT_BATCH_SIZE": "._config",
    "DEFAULT_EPOCHS": "._config",
    "PROTOCOLS": "._config",
    "COMPARE_MODELS": "._depth",
    "DEFAULT_COMPARE_MODELS": "._depth",
    "DepthProfile": "._depth",
    "compare_depth_profiles": "._depth",
    "depth_profile": "._depth",
    "JointProtocol": "._protocols",
    "PaperProtocol": "._protocols",
    "paper_lr_factor": "._protocols",
    "AdamReadout": "._readout_fit",
    "ClassifyResult": "._run",
    "fit_classifier": "._run",
    "load_data": "._run",
    "memory_parts": "._run",
    "seeded_generators": "._run",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
