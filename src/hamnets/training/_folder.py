"""Choosing and locking a run folder: a run is never overwritten without being asked.

* ``--out DIR`` naming a folder that holds a run is refused; ``--overwrite`` replaces it, but
  only once the lock is taken, and only an empty folder or a hamnets run (any other
  non-empty folder is refused even then).
* Without ``--out``, a new run takes a fresh folder: ``runs/NAME``, else ``runs/NAME_2``, ...
* A running run holds an OS lock (``flock``) on ``DIR/.lock`` for its whole life; a second
  run or resume of that folder is refused with the holder's process id. The kernel drops the
  lock when the process ends, so a folder left by ``kill -9`` is not locked.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ._errors import RunFolderError
from ._rundir import CHECKPOINT, CONFIG, RunDir

try:  # POSIX; elsewhere folders are not locked
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["RunLock", "claim_run_folder", "fresh_folder", "plan_run_folder", "LOCK"]

LOCK = ".lock"


class RunLock:
    """An exclusive, non-blocking OS lock on ``folder/.lock`` held until :meth:`release`.

    Raises:
        RunFolderError: another process holds the lock (its process id is named).
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self._fd: int | None = None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.folder / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunFolderError(
                f"cannot use the run folder {self.folder}: {exc.strerror or exc}"
            ) from None
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                    raise RunFolderError(
                        f"{self.folder} is in use by another run (process {holder}); wait for it "
                        f"to end, or choose another folder."
                    ) from None
                raise RunFolderError(f"cannot lock {self.folder}: {exc.strerror}") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock
            self._fd = None

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _entries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != LOCK] if folder.is_dir() else []


def fresh_folder(root: str | os.PathLike, name: str) -> Path:
    """The first of ``root/name``, ``root/name_2``, ``root/name_3``, ... that does not exist
    or is an empty folder."""
    root = Path(root)
    for k in range(1, 100_000):
        path = root / (name if k == 1 else f"{name}_{k}")
        if not path.exists() or (path.is_dir() and not _entries(path)):
            return path
    raise RunFolderError(f"no free folder name {name}_N left under {root}.")


def claim_run_folder(
    out: str | os.PathLike | None, default_name: str, *, overwrite: bool = False
) -> tuple[RunDir, RunLock]:
    """Choose the folder of a new run and lock it.

    Args:
        out: the folder asked for (``--out``), or None for a fresh ``runs/<default_name>...``.
        default_name: e.g. ``swiss_roll_H1_J1``.
        overwrite: replace the run in ``out`` (only a hamnets run or an empty folder).

    Returns:
        The run folder, empty but for its lock, and the lock (release it when the run ends).

    Raises:
        RunFolderError: ``out`` holds a run (and ``overwrite`` is off), holds other files, is
            a file, or is locked by a running run.
    """
    if out is None:
        for _ in range(100):  # a concurrent run may take the same fresh name: take the next
            path = fresh_folder("runs", default_name)
            try:
                lock = RunLock(path)
            except RunFolderError:
                continue
            if not _entries(path):
                return RunDir(path), lock
            lock.release()
        raise RunFolderError(f"could not find a free folder runs/{default_name}_N.")
    path = Path(out)
    run = _usable(path)
    if run.holds_run() and not overwrite:  # refused before anything is written into it
        raise RunFolderError(_holds_run(path))
    lock = RunLock(path)
    try:
        for entry in _replaceable(path, run, overwrite):  # checked again under the lock
            entry.unlink()
    except BaseException:
        lock.release()
        raise
    return run, lock


def _usable(path: Path) -> RunDir:
    """``path`` as a run folder, if it is (or could be created as) a writable folder."""
    if path.exists() and not path.is_dir():
        raise RunFolderError(f"--out {path} exists and is not a folder; pick another path.")
    _creatable(path)
    return RunDir(path)


def _replaceable(path: Path, run: RunDir, overwrite: bool) -> list[Path]:
    """The files of ``path`` that ``--overwrite`` removes; refuses a folder that holds a run
    (without ``overwrite``), or anything no hamnets run writes."""
    entries = _entries(path)
    if not entries:
        return []
    if not run.holds_run():
        raise RunFolderError(
            f"--out {path} is a non-empty folder that is not a hamnets run; choose an "
            f"empty or new folder (--overwrite replaces hamnets runs only)."
        )
    if not overwrite:
        raise RunFolderError(_holds_run(path))
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            raise RunFolderError(
                f"--overwrite: {path} holds a folder ({entry.name}) that no hamnets run "
                f"writes; remove it yourself or choose another folder."
            )
    return entries


def _holds_run(path: Path) -> str:
    what = "an interrupted run" if (path / CHECKPOINT).is_file() else "a run"
    if (path / CONFIG).is_file() and (path / "metrics.json").is_file():
        what = "a finished run"
    return (
        f"--out {path} holds {what}; continue it with --resume {path}, replace it with "
        f"--overwrite, or leave out --out for a fresh folder."
    )


def _creatable(path: Path) -> None:
    """Refuse a folder that could not be created: a file on the way, or no write access."""
    parent = path
    while not parent.exists():
        if parent.parent == parent:
            break
        parent = parent.parent
    if not parent.is_dir():
        raise RunFolderError(
            f"cannot use the run folder {path}: {parent} is a file, not a folder; pick another "
            f"path."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise RunFolderError(
            f"cannot use the run folder {path}: {parent} is not writable (read-only file "
            f"system or no permission); pick another path."
        )


def plan_run_folder(
    out: str | os.PathLike | None, default_name: str, *, overwrite: bool = False
) -> Path:
    """The folder :func:`claim_run_folder` would take, refused for the same reasons, but
    without creating, locking or emptying anything (``--check``)."""
    if out is None:
        path = fresh_folder("runs", default_name)
        _creatable(path)
        return path
    path = Path(out)
    _replaceable(path, _usable(path), overwrite)
    return path
