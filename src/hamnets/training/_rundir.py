"""Run folders: the files every training command writes, written atomically, read safely.

A run folder holds ``config.json`` (the frozen configuration), ``checkpoint.pt`` (the training
state), ``metrics.json``, ``history.csv`` and the task's pictures. The contract:

* every file is written to a temporary name first and then renamed, so an interrupted run
  never leaves a half-written file behind;
* a checkpoint is loaded with ``torch.load(..., weights_only=True)``: it holds tensors and
  plain containers only, and a file that is anything else is refused without running code;
* whatever is wrong with a file a user hands us (missing, truncated, not JSON, not a
  checkpoint, a bad value) is a :class:`RunFolderError`: one line that names the file.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from ._configs import FORMAT
from ._errors import RunFolderError

__all__ = ["RunDir", "RunFolderError", "CHECKPOINT", "CONFIG", "FORMAT", "atomic_write"]

CHECKPOINT = "checkpoint.pt"
CONFIG = "config.json"


def atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename ``tmp`` to ``path``; an error leaves ``path`` untouched."""
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")  # keeps the suffix: formats
    try:
        write(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise RunFolderError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


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
    """The files of one run folder.

    Args:
        path: the folder. Writing creates it (with parents) on the first file; choosing and
            locking it is :func:`hamnets.training.claim_run_folder`'s job.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.exists() and not self.path.is_dir():
            raise RunFolderError(f"{self.path} exists and is not a folder; pick another path.")

    def file(self, name: str) -> Path:
        """The path of ``name`` in the folder, for writing (the folder is created)."""
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise RunFolderError(
                f"cannot create the run folder {self.path}: {exc.strerror or exc}"
            ) from None
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        """Write ``obj`` (dataclasses, tensors and numpy scalars allowed) as indented JSON."""
        target = self.file(name)
        text = json.dumps(_jsonable(obj), indent=2, sort_keys=False) + "\n"
        atomic_write(target, lambda p: p.write_text(text))
        return target

    def read_json(self, name: str) -> Any:
        """The JSON in ``name``; a missing or malformed file is a :class:`RunFolderError`."""
        target = self.path / name
        if not target.is_file():
            raise RunFolderError(f"{target} not found: is {self.path} a hamnets run folder?")
        try:
            return json.loads(target.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise RunFolderError(f"{target} is not readable JSON ({exc}).") from None

    def write_csv(self, name: str, rows: Sequence[Mapping[str, Any]]) -> Path:
        """Write a list of dicts (same keys) as CSV; an empty list writes an empty file."""
        target = self.file(name)

        def write(p: Path) -> None:
            with open(p, "w", newline="") as fh:
                if rows:
                    writer = csv.DictWriter(fh, fieldnames=list(rows[0].keys()))
                    writer.writeheader()
                    writer.writerows(_jsonable(list(rows)))

        atomic_write(target, write)
        return target

    def write_figure(self, name: str, fig: Any, **savefig: Any) -> Path:
        """Save a matplotlib figure as ``name`` (atomically; the format from the suffix)."""
        target = self.file(name)
        fmt = Path(name).suffix.lstrip(".") or "png"
        atomic_write(target, lambda p: fig.savefig(p, format=fmt, **savefig))
        return target

    def save_checkpoint(self, state: Mapping[str, Any], name: str = CHECKPOINT) -> Path:
        """Save a checkpoint dict (tensors and plain containers) with ``torch.save``."""
        target = self.file(name)
        atomic_write(target, lambda p: torch.save(dict(state), p))
        return target

    def load_checkpoint(self, name: str = CHECKPOINT, map_location: Any = "cpu") -> dict:
        """Load a checkpoint with ``weights_only=True``: nothing in it can run code.

        Raises:
            RunFolderError: the file is missing, truncated, or not a hamnets checkpoint.
        """
        target = self.path / name
        if not target.is_file():
            raise RunFolderError(
                f"no checkpoint at {target}; --resume needs the folder of an earlier run."
            )
        try:
            with warnings.catch_warnings():  # e.g. about the pickle protocol of a bad file
                warnings.simplefilter("ignore")
                state = torch.load(target, map_location=map_location, weights_only=True)
        except pickle.UnpicklingError:
            raise RunFolderError(
                f"{target} is not a hamnets checkpoint: it is not made of tensors and plain "
                f"containers only (refused without running anything in it)."
            ) from None
        except Exception as exc:  # any bytes: the unpickler raises anything
            # (EOFError, IndexError, KeyError, ...) on a damaged file; weights_only ran nothing
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RunFolderError(
                f"{target} is not a readable checkpoint (empty, truncated or corrupt: "
                f"{text[:100]})."
            ) from None
        if not isinstance(state, dict):
            raise RunFolderError(f"{target} is not a hamnets checkpoint (no dict inside).")
        return state

    def has_checkpoint(self, name: str = CHECKPOINT) -> bool:
        return (self.path / name).is_file()

    def holds_run(self) -> bool:
        """Whether the folder holds a hamnets run (a ``config.json`` or a checkpoint)."""
        return (self.path / CONFIG).is_file() or (self.path / CHECKPOINT).is_file()
