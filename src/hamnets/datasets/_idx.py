"""The IDX file format of MNIST-style data sets, read and written with numpy.

An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
int32 sizes, then the data in C order (big-endian for multi-byte types). Files may be gzipped;
a gzip file is recognised by its own magic bytes, not by its name.
"""

from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path

import numpy as np

__all__ = ["read_idx", "write_idx", "read_idx_bytes"]

# IDX type byte -> numpy dtype (big-endian where it matters).
_IDX_TYPES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped if it is a gzip file; corrupt gzip is a ValueError."""
    data = path.read_bytes()
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(
            f"{path}: corrupt or truncated gzip file ({exc}); delete it and fetch it again."
        ) from exc


def read_idx_bytes(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse an (uncompressed) IDX file held in memory.

    Args:
        data: the file's bytes.
        name: how error messages name the file.

    Returns:
        A new (writable) array of the stored shape and dtype, in native byte order.

    Raises:
        ValueError: bad magic number, unknown type, or a size that does not match the header
            (a truncated file or one with trailing bytes); nothing is returned half-read.
    """
    if len(data) < 4:
        raise ValueError(f"{name}: not an IDX file (only {len(data)} bytes).")
    if data[0] != 0 or data[1] != 0:
        raise ValueError(
            f"{name}: bad IDX magic number {data[:4].hex()} (must start with 0000); "
            f"is this an MNIST-format file?"
        )
    type_code, ndim = data[2], data[3]
    if type_code not in _IDX_TYPES:
        allowed = ", ".join(f"0x{k:02x}" for k in _IDX_TYPES)
        raise ValueError(f"{name}: unknown IDX type 0x{type_code:02x}; known: {allowed}.")
    if ndim < 1:
        raise ValueError(f"{name}: IDX header says 0 dimensions.")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{name}: truncated IDX header ({len(data)} bytes, need {header}).")
    shape = tuple(int(s) for s in np.frombuffer(data, dtype=">i4", count=ndim, offset=4))
    if any(s < 0 for s in shape):
        raise ValueError(f"{name}: negative size in IDX header {shape}.")
    dtype = _IDX_TYPES[type_code]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        raise ValueError(
            f"{name}: file {what}: header {shape} needs {expected} data bytes, "
            f"found {found}; delete it and fetch it again."
        )
    arr = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file, raw or gzipped.

    Args:
        path: the file.

    Returns:
        The array, e.g. ``(N, 28, 28)`` uint8 images or ``(N,)`` uint8 labels.

    Raises:
        FileNotFoundError: no such file.
        ValueError: corrupt, truncated or not IDX (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    return read_idx_bytes(_raw_bytes(path), name=str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool = False) -> Path:
    """Write ``array`` as an IDX file (gzipped when ``compress``), atomically.

    Args:
        path: target file.
        array: any shape; dtype uint8, int8, int16, int32, float32 or float64.

    Returns:
        The path written.
    """
    path = Path(path)
    array = np.ascontiguousarray(array)
    codes = {dt.newbyteorder("=").str: code for code, dt in _IDX_TYPES.items()}
    key = array.dtype.newbyteorder("=").str
    if key not in codes or array.ndim < 1:
        raise ValueError(
            f"write_idx: cannot store dtype {array.dtype} with ndim {array.ndim}; use uint8, "
            f"int8, int16, int32, float32 or float64 with at least one dimension."
        )
    code = codes[key]
    header = bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    data = header + array.astype(_IDX_TYPES[code], copy=False).tobytes()
    if compress:
        data = gzip.compress(data, mtime=0)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
