"""Training: frozen configurations, fit loops, run directories and checkpoints."""

from ._rundir import RunDir, Stopwatch, progress, resolve_device

__all__ = ["RunDir", "Stopwatch", "progress", "resolve_device"]
