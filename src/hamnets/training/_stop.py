"""Ctrl-C as a request to stop: training loops finish the current step, save, then stop."""

from __future__ import annotations

import signal
import threading


class StopFlag:
    """Turns SIGINT into a flag checked between steps, so a checkpoint is always consistent.

    Inside ``with StopFlag() as stop:`` a Ctrl-C sets ``stop.raised`` instead of raising
    ``KeyboardInterrupt`` in the middle of a step; the previous handler comes back on exit.
    Outside the main thread (where Python delivers no signals) it installs nothing.
    """

    def __init__(self) -> None:
        self.raised = False
        self._previous = None

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        self.raised = True

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
