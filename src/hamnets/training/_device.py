"""``--device``: a device name, checked against what this machine has."""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]


def resolve_device(name: str) -> torch.device:
    """Turn a ``--device`` string into a device, refusing one that is not available."""
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ValueError(
            f"--device {name!r} is not a device name; use cpu, cuda or cuda:N."
        ) from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: only cpu and cuda are supported.")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name} asked for CUDA, but no CUDA GPU is available here; use --device cpu."
        )
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ValueError(
                f"--device {name}: this machine has {count} CUDA GPU(s), numbered 0 to {count - 1}."
            )
    return device
