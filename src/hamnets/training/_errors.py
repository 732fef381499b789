"""What can end a run other than success, each with its exit status on the command line.

No torch here: the command line catches these without importing the library.
"""

from __future__ import annotations

__all__ = ["RunFolderError", "ConfigError", "ResourceError", "Interrupted", "Diverged"]


class RunFolderError(ValueError):
    """A run folder, or a file in it, that cannot be used: one line naming the file (exit 2)."""


class ConfigError(RunFolderError):
    """A configuration value of the wrong type or out of range: one line naming the key."""


class ResourceError(ValueError):
    """A run that cannot fit (memory) or would not end (steps): refused before it starts,
    one line with the estimate and the limit (exit 2)."""


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint (exit status 130).

    Attributes:
        path: the run folder to resume, or None when none was kept.
    """

    def __init__(self, message: str, *, path: object = None) -> None:
        super().__init__(message)
        self.path = path


class Diverged(Exception):
    """A non-finite loss or weight: the run stopped, its last good checkpoint kept (exit 3).

    Attributes:
        phase: the training phase (``train``, ``model``, ...).
        step: steps done in that phase.
        path: the run folder holding the last good checkpoint, or None.
    """

    def __init__(self, message: str, *, phase: str, step: int, path: object = None) -> None:
        super().__init__(message)
        self.phase, self.step, self.path = phase, step, path
