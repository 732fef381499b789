"""Compiling and loading this package's C files (the MS1 stack, the HNN loss kernel).

A C file is compiled on first use with the system's C compiler (``$CC``, else ``cc``) into
``$XDG_CACHE_HOME/hamnets/kernels`` (``~/.cache/...``), named by a hash of the source, the
headers it may include (``*.h`` beside it and in ``include``), the compiler's version and the
flags, and loaded with :mod:`ctypes`. Callers treat ``OSError`` and
``subprocess.SubprocessError`` as "no C here" and keep their torch path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

FLAGS = ("-O3", "-std=gnu11", "-fPIC", "-shared", "-fno-math-errno", "-fno-trapping-math")


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hamnets" / "kernels"


def build(source: Path, cache: Path | None = None, include: Sequence[Path] = ()) -> Path:
    """Compile ``source`` into a shared library in ``cache`` (default :func:`_cache_dir`),
    unless it is there already; returns its path. ``include``: folders of headers it uses
    besides its own. Raises ``OSError`` or ``subprocess.CalledProcessError`` where it cannot."""
    cc = os.environ.get("CC", "cc")
    version = subprocess.run(
        [cc, "--version"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    folders = [source.parent, *include]
    headers = [h.read_text() for folder in folders for h in sorted(folder.glob("*.h"))]
    flags = [*FLAGS, *(f"-I{folder}" for folder in include)]
    key = hashlib.sha256(
        "\0".join([source.read_text(), *headers, version, *FLAGS, platform.machine()]).encode()
    ).hexdigest()[:16]
    cache = _cache_dir() if cache is None else cache
    target = cache / f"{source.stem}-{key}.so"
    if target.exists():
        return target
    cache.mkdir(parents=True, exist_ok=True)
    import fcntl  # (POSIX only: here, not at the top, so that the package imports anywhere)

    # One process compiles (seconds), the others (pytest-xdist workers, DDP ranks) wait for
    # it; the file is written under a temporary name and renamed: never seen half-written.
    with open(cache / f"{source.stem}-{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():
            return target
        # (a pause of seconds at a run's first step: said, not left unexplained)
        print(f"hamnets: compiling {source.name} into {cache} (once)", file=sys.stderr)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=cache)
        os.close(fd)
        try:
            subprocess.run(
                [cc, *flags, "-o", tmp, str(source), "-lm"],
                capture_output=True,
                text=True,
                check=True,
                timeout=300,
            )
            os.replace(tmp, target)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


def load(source: Path, cache: Path | None = None, include: Sequence[Path] = ()) -> ctypes.CDLL:
    """:func:`build`, then load the library; a file in the cache that does not load (a full
    disk, a killed copy) is built again, once."""
    path = build(source, cache, include)
    try:
        return ctypes.CDLL(str(path))
    except OSError:
        path.unlink(missing_ok=True)
        return ctypes.CDLL(str(build(source, cache, include)))


def posix() -> bool:
    """Whether this platform can build and load them (fcntl, cc, .so)."""
    return sys.platform.startswith(("linux", "darwin"))


def install(source: Path, what: str, otherwise: str, include: Sequence[Path] = ()) -> int:
    """Build ``source`` and print its path, or say on stderr why not and what runs instead
    (the ``main`` of each kernel's module, which ``make install`` calls): 0 built, 1 not."""
    try:
        print(build(source, include=include))
    except (OSError, subprocess.SubprocessError) as err:
        print(f"{what} cannot be built here ({err}): {otherwise}", file=sys.stderr)
        return 1
    return 0
