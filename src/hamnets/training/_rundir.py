"""Run directories: the files every training command writes, written safely.

A run directory holds ``config.json`` (the frozen configuration), ``metrics.json``,
``history.csv`` and ``checkpoint.pt``. Every file is written to a temporary name first and
then renamed, so an interrupted run never leaves a half-written file behind.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

CHECKPOINT = "checkpoint.pt"


def _atomic_write(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)  # the run folder, on its first file
    tmp = path.with_name(path.name + ".tmp")
    write(tmp)
    os.replace(tmp, path)


def _jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return _jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


class RunDir:
    """A folder for the outputs of one run.

    Args:
        path: the folder; created (with parents) when the first file is written, so a run
            refused before it starts leaves nothing behind.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise ValueError(f"--out {self.path} exists and is not a folder; pick another path.")

    def file(self, name: str) -> Path:
        """The path of ``name`` in the folder, for writing (the folder is created)."""
        self.path.mkdir(parents=True, exist_ok=True)
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` (dataclasses, tensors and numpy scalars allowed) as indented JSON."""
        target = self.file(name)
        text = json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n"
        _atomic_write(target, lambda p: p.write_text(text))
        return target

    def read_json(self, name: str) -> Any:
        target = self.path / name
        if not target.is_file():
            raise FileNotFoundError(f"{target} not found: is {self.path} a hamnets run folder?")
        return json.loads(target.read_text())

    def write_csv(self, name: str, rows: Sequence[Mapping[str, Any]]) -> Path:
        """Write a list of dicts (same keys) as CSV; an empty list writes an empty file."""
        target = self.file(name)

        def write(p: Path) -> None:
            with open(p, "w", newline="") as fh:
                if rows:
                    writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
                    writer.writeheader()
                    writer.writerows(_jsonable(list(rows)))

        _atomic_write(target, write)
        return target

    def save_checkpoint(self, state: Mapping[str, Any], name: str = CHECKPOINT) -> Path:
        """Save a checkpoint dict with ``torch.save`` (atomically)."""
        target = self.file(name)
        _atomic_write(target, lambda p: torch.save(dict(state), p))
        return target

    def load_checkpoint(self, name: str = CHECKPOINT, map_location: Any = "cpu") -> dict:
        target = self.path / name
        if not target.is_file():
            raise FileNotFoundError(
                f"no checkpoint at {target}; --resume needs the folder of an earlier run."
            )
        return torch.load(target, map_location=map_location, weights_only=False)

    def has_checkpoint(self, name: str = CHECKPOINT) -> bool:
        return (self.path / name).is_file()


class Stopwatch:
    """Wall-clock and process CPU seconds since construction, resumable across restarts.

    Args:
        wall_offset, cpu_offset: seconds already spent (from a checkpoint) to add.
    """

    def __init__(self, wall_offset: float = 0.0, cpu_offset: float = 0.0) -> None:
        self._wall0 = time.perf_counter() - wall_offset
        self._cpu0 = time.process_time() - cpu_offset

    @property
    def wall(self) -> float:
        return time.perf_counter() - self._wall0

    @property
    def cpu(self) -> float:
        return time.process_time() - self._cpu0


def progress(total: int, *, desc: str, quiet: bool, initial: int = 0, unit: str = "it"):
    """A tqdm progress bar (to stderr) that ``quiet=True`` turns off."""
    from tqdm.auto import tqdm

    return tqdm(
        total=total,
        desc=desc,
        initial=initial,
        unit=unit,
        disable=quiet,
        dynamic_ncols=True,
        leave=True,
    )


def resolve_device(name: str) -> torch.device:
    """Turn a ``--device`` string into a device, refusing one that is not available."""
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise ValueError(
            f"--device {name!r} is not a device name; use cpu, cuda or cuda:N."
        ) from exc
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"--device {name} asked for CUDA, but no CUDA GPU is available here; use --device cpu."
        )
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device {name}: only cpu and cuda are supported.")
    if device.type == "cuda" and device.index is not None:
        count = torch.cuda.device_count()
        if device.index >= count:
            raise ValueError(
                f"--device {name}: this machine has {count} CUDA GPU(s), numbered 0 to {count - 1}."
            )
    return device
