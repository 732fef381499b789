"""Reading a ``.npz`` archive a user hands us: numeric arrays only, never pickle, one clear
error for anything else (a file that is not a zip archive, a damaged one, object arrays)."""

from __future__ import annotations

import os
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

__all__ = ["load_npz"]


def load_npz(
    path: str | os.PathLike, *, needs: Iterable[str] = (), hint: str = ""
) -> dict[str, np.ndarray]:
    """The arrays of the ``.npz`` file ``path``: numbers, booleans or strings.

    Args:
        path: the file.
        needs: array names that must be present and numeric.
        hint: how such a file is written, appended to the messages.

    Raises:
        FileNotFoundError: no such file.
        ValueError: a directory, not a zip archive, a damaged archive, an array that is not
            numeric (object arrays are never unpickled), or a missing array; one line naming
            the file.
    """
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a directory, not a file.")
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found.")
    tail = f"; {hint}" if hint else ""
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a valid .npz archive (not a zip file){tail}.")
    try:
        with np.load(path, allow_pickle=False) as data:
            out = {name: data[name] for name in data.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise ValueError(f"{path}: holds Python objects, not numeric arrays{tail}.") from None
        raise ValueError(f"{path} is not a valid .npz archive ({exc}){tail}.") from None
    except (OSError, EOFError, KeyError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise ValueError(f"{path} is not a valid .npz archive (damaged: {exc}){tail}.") from None
    needs = list(needs)
    missing = [name for name in needs if name not in out]
    if missing:
        raise ValueError(
            f"{path}: no array {', '.join(map(repr, missing))} (it has "
            f"{', '.join(out) or 'none'}){tail}."
        )
    for name in needs:
        if out[name].dtype.kind not in "biuf":
            raise ValueError(
                f"{path}: {name!r} must be numeric, got dtype {out[name].dtype}{tail}."
            )
    return out
