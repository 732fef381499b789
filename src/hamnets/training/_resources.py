"""The resource guard: what a run needs, refused before anything is allocated if it cannot fit.

Every task estimates the memory of its configuration in bytes before it builds a network
(float32, 4 bytes a number):

* parameters ``P``, and three times as much again for their gradients and Adam's two moments
  (``4 P`` numbers in all);
* the activations of one mini-batch that autograd keeps for the backward pass: about
  ``8`` numbers per feature, sample and layer (the state, the pre-activation, its tanh and
  their derivatives); ``12`` per hidden unit and sample for an HNN, whose loss differentiates
  the network twice;
* the data and what the evaluation holds at once (whole test sets, rollouts, plot grids).

:func:`check_memory` compares the total with the memory available to this process (the
smaller of the kernel's ``MemAvailable`` and the cgroup's limit; the free memory of a CUDA
device) or with ``--memory-limit``, and refuses with both numbers. The estimate errs high by a
small factor; it is a guard against runs that cannot fit (``--nf 100000`` asks for terabytes),
not a tight prediction.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._errors import ResourceError

__all__ = [
    "ResourceError",
    "available_memory",
    "check_memory",
    "human_bytes",
    "mlp_parameters",
    "hdnn_parameters",
]

FLOAT = 4  # bytes of a float32
#: numbers autograd keeps per feature, sample and layer of an H-DNN (see the module docstring)
HDNN_ACTIVATIONS = 8
#: numbers kept per hidden unit and sample of an HNN (double backward)
HNN_ACTIVATIONS = 12


def human_bytes(n: float) -> str:
    """``1.3e12`` -> ``1.3 TB`` (powers of 1000)."""
    for unit in ("B", "kB", "MB", "GB", "TB", "PB"):
        if abs(n) < 1000 or unit == "PB":
            return f"{n:.3g} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1000
    return f"{n:.3g} PB"  # pragma: no cover


def _read_int(path: str) -> int | None:
    try:
        text = Path(path).read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _host_available() -> int:
    """Bytes this process can still allocate on the host: ``MemAvailable``, capped by a
    cgroup (v2 or v1) memory limit, which is what the OOM killer of a container enforces."""
    candidates: list[int] = []
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                candidates.append(int(line.split()[1]) * 1024)
                break
    except (OSError, ValueError, IndexError):
        pass
    for limit, usage in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        (
            "/sys/fs/cgroup/memory/memory.limit_in_bytes",
            "/sys/fs/cgroup/memory/memory.usage_in_bytes",
        ),
    ):
        cap, used = _read_int(limit), _read_int(usage)
        if cap is not None and used is not None and cap < 1 << 60:
            candidates.append(max(0, cap - used))
    if not candidates:
        try:
            candidates.append(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
        except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
            return 1 << 62  # unknown: only an explicit --memory-limit guards
    return min(candidates)


def available_memory(device: Any = "cpu") -> int:
    """Bytes available to a run on ``device`` (``cpu``, ``cuda``, ``cuda:N`` or a
    ``torch.device``): the host's for the CPU, the device's free memory for CUDA."""
    name = str(device)
    if name.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info(torch.device(name))
        return int(free)
    return _host_available()


def check_memory(
    parts: Mapping[str, float],
    *,
    device: Any = "cpu",
    limit: float | None = None,
    hint: str = "",
) -> dict[str, Any]:
    """Refuse a run whose estimated memory exceeds what is available.

    Args:
        parts: what needs memory -> bytes (``parameters``, ``optimizer``, ``activations``...).
        device: where the run allocates.
        limit: bytes the run may use (``--memory-limit``); None: :func:`available_memory`.
        hint: which settings to lower, for the message (``--nf, --layers``).

    Returns:
        ``{"estimate_bytes", "available_bytes", "parts"}`` (for ``--check`` to print).

    Raises:
        ResourceError: the estimate exceeds the limit; the message gives both and the parts.
    """
    total = float(sum(parts.values()))
    available = float(limit) if limit is not None else float(available_memory(device))
    available = min(available, 2.0**63)  # a limit of 1e308 GB means no limit
    report = {
        "estimate_bytes": int(min(total, 2.0**63)) if math.isfinite(total) else total,
        "available_bytes": int(available),
        "parts": {k: int(min(v, 2.0**63)) for k, v in parts.items() if math.isfinite(v)},
    }
    if total > available:
        biggest = sorted(parts.items(), key=lambda kv: -kv[1])[:3]
        detail = ", ".join(f"{k} {human_bytes(v)}" for k, v in biggest)
        where = "--memory-limit" if limit is not None else f"available on {device}"
        lower = f"lower {hint}" if hint else "make the run smaller"
        raise ResourceError(
            f"this run needs about {human_bytes(total)} of memory ({detail}) but "
            f"{human_bytes(available)} is {where}; {lower}, or pass --memory-limit GB if "
            f"more is truly available."
        )
    return report


def mlp_parameters(widths: Sequence[int]) -> int:
    """Weights and biases of a fully connected network with the given layer widths."""
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=False))


def hdnn_parameters(nf: int, layers: int) -> int:
    """An upper bound on an H-DNN's parameters: two (nf, nf) matrices and two biases a layer
    (the forms with one matrix have fewer)."""
    return layers * (2 * nf * nf + 2 * nf)
