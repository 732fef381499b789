"""The one training loop of hamnets. Every task plugs its steps into it.

A task (2D classification, images, HNNs) describes its training as a list of :class:`Phase`
objects: a name, a number of steps, and how to build the :class:`Stage` that takes them. The
:class:`Engine` owns everything around the steps, once for all tasks:

* **resume**: a checkpoint holds the engine's place (phase, step, history, running sums, time
  spent), the task's state and the current stage's; resuming continues to exactly the result
  of an uninterrupted run;
* **the stop flag**: Ctrl-C finishes the current step, saves, and raises :class:`Interrupted`;
  in a data-parallel job every rank stops after the same step;
* **checkpoint cadence**: a checkpoint before the first step, every ``checkpoint_every``
  steps, at the end of every phase and on Ctrl-C;
* **the non-finite guard**: a step whose loss is NaN or inf, or a checkpoint whose weights are
  not finite, stops the run with :class:`Diverged`; the last good checkpoint is kept;
* **progress**: one bar per phase (rank 0 only);
* **cross-rank sums** of each period's statistics, and **timing** (wall and CPU seconds,
  carried across resumes).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from ._parallel import Parallel
from ._rundir import FORMAT, RunDir
from ._stop import StopFlag

__all__ = [
    "Diverged",
    "Engine",
    "EngineState",
    "Interrupted",
    "Phase",
    "Stage",
    "Stopwatch",
    "TrainingTask",
    "progress",
]

#: statistics of one step, summed over a period and over ranks (``loss`` is guarded).
Tally = Mapping[str, float]


class Interrupted(Exception):
    """Training stopped by Ctrl-C after saving a checkpoint (exit status 130)."""


class Diverged(Exception):
    """A non-finite loss or weight: the run stopped, its last good checkpoint kept (exit 3)."""

    def __init__(self, message: str, *, phase: str, step: int) -> None:
        super().__init__(message)
        self.phase, self.step = phase, step


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


class Stage(Protocol):
    """The steps of one phase. ``step`` takes step ``index`` (0-based within the phase)."""

    def step(self, index: int) -> Tally:
        """One training step; returns this rank's statistics (``loss`` is checked)."""
        ...

    def end_period(self, totals: Mapping[str, float], done: int) -> dict[str, Any] | None:
        """After step ``done`` ends a period: the history row (or None), from ``totals``,
        the period's statistics summed over every rank."""
        ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...


@dataclass
class Phase:
    """One phase of training.

    Attributes:
        name: stored in checkpoints; unique within a task.
        steps: steps in the phase.
        build: makes the phase's :class:`Stage` when the phase starts (not before: building
            may draw random numbers).
        period: steps per period (an epoch, a logging interval): statistics are summed over
            a period and :meth:`Stage.end_period` is called at its end and at the phase's end.
        checkpoint_every: steps between two checkpoints within the phase (0: only at its end
            and on Ctrl-C).
        desc: the progress bar's label.
    """

    name: str
    steps: int
    build: Callable[[], Stage]
    period: int = 1
    checkpoint_every: int = 0
    desc: str = ""


class TrainingTask(Protocol):
    """What a task gives the engine besides its phases."""

    def state_dict(self) -> dict[str, Any]:
        """Everything to resume from that is not a stage's (networks, optimisers, ...)."""
        ...

    def load_state_dict(self, state: Mapping[str, Any]) -> None: ...

    def parameters(self) -> Iterable[torch.Tensor]:
        """The tensors that must be finite for a checkpoint to be worth keeping."""
        ...


@dataclass
class EngineState:
    """The engine's place in training: stored in every checkpoint under ``engine``."""

    phase: str = ""
    done: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    sums: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "done": self.done,
            "history": self.history,
            "sums": self.sums,
            "wall_seconds": self.wall_seconds,
            "cpu_seconds": self.cpu_seconds,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> EngineState:
        return cls(
            phase=str(d["phase"]),
            done=int(d["done"]),
            history=list(d["history"]),
            sums=dict(d["sums"]),
            wall_seconds=float(d["wall_seconds"]),
            cpu_seconds=float(d["cpu_seconds"]),
        )


DONE = "done"


class Engine:
    """Runs a task's phases with resume, stop flag, checkpoints, guard, progress and timing.

    Args:
        task: the task's state (see :class:`TrainingTask`).
        phases: the task's phases, in order.
        run: where checkpoints go; None keeps none (then nothing can be resumed).
        header: stored at the top of every checkpoint (``kind``, ``config``).
        parallel: this process's place in a data-parallel job; only rank 0 writes.
        quiet: no progress bar.
        on_step: called as ``on_step(phase_name, steps_done)`` after every step (tests use
            it to send Ctrl-C at a chosen step).
    """

    def __init__(
        self,
        task: TrainingTask,
        phases: list[Phase],
        *,
        run: RunDir | None,
        header: Mapping[str, Any],
        parallel: Parallel,
        quiet: bool = True,
        on_step: Callable[[str, int], None] | None = None,
    ) -> None:
        names = [p.name for p in phases]
        if len(set(names)) != len(names) or DONE in names:
            raise ValueError(f"phase names must be unique and not {DONE!r}, got {names}.")
        self.task, self.phases, self.run = task, phases, run
        self.header, self.parallel = dict(header), parallel
        self.quiet = quiet or not parallel.is_main
        self.on_step = on_step
        self.state = EngineState(phase=phases[0].name if phases else DONE)
        self.clock = Stopwatch()
        self._stage: Stage | None = None

    # -- checkpoints ---------------------------------------------------------------------
    def checkpoint(self, **extra: Any) -> None:
        """Save the current state (rank 0), unless a weight is not finite: then
        :class:`Diverged`, and the last good checkpoint stays. A collective."""
        every_rank = {k: self.parallel.sum(v) for k, v in self.state.sums.items()}
        finite = all(bool(torch.isfinite(p).all()) for p in self.task.parameters())
        if not self.parallel.all(finite):
            raise Diverged(
                f"a weight became NaN or inf in {self.state.phase} at step {self.state.done}",
                phase=self.state.phase,
                step=self.state.done,
            )
        if self.run is None or not self.parallel.is_main:
            return
        state = EngineState(
            self.state.phase,
            self.state.done,
            self.state.history,
            every_rank,
            self.clock.wall,
            self.clock.cpu,
        )
        self.run.save_checkpoint(
            {
                "format": FORMAT,
                **self.header,
                "engine": state.to_dict(),
                "task": self.task.state_dict(),
                "stage": None if self._stage is None else self._stage.state_dict(),
                **extra,
            }
        )

    def restore(self, checkpoint: Mapping[str, Any]) -> None:
        """Take up a checkpoint written by :meth:`checkpoint` (of the same task and config)."""
        state = EngineState.from_dict(checkpoint["engine"])
        names = [p.name for p in self.phases] + [DONE]
        if state.phase not in names:
            raise ValueError(f"the checkpoint's phase {state.phase!r} is not one of {names}.")
        self.task.load_state_dict(checkpoint["task"])
        if not self.parallel.is_main:  # the stored sums are over all ranks: count them once
            state.sums = {}
        self.state = state
        self._resume_stage = checkpoint.get("stage")
        self.clock = Stopwatch(state.wall_seconds, state.cpu_seconds)

    @property
    def finished(self) -> bool:
        return self.state.phase == DONE

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.state.history

    # -- the loop ------------------------------------------------------------------------
    def run_phases(self) -> None:
        """Take every remaining step of every phase.

        Raises:
            Interrupted: after Ctrl-C (on any rank), once the checkpoint is saved.
            Diverged: on a non-finite loss or weight; nothing is saved.
        """
        names = [p.name for p in self.phases]
        if self.finished:
            return
        start = names.index(self.state.phase)
        resumed = getattr(self, "_resume_stage", None)
        fresh = self.state.done == 0 and resumed is None and start == 0
        with StopFlag() as stop:
            for i in range(start, len(self.phases)):
                phase = self.phases[i]
                self._stage = phase.build()
                if i == start and resumed is not None:
                    self._stage.load_state_dict(resumed)
                else:
                    self.state.done, self.state.sums = 0, {}
                self.state.phase = phase.name
                if fresh:
                    self.checkpoint()  # a good state to go back to before the first step
                    fresh = False
                self._run_phase(phase, stop)
                self.checkpoint()
        self._stage = None
        self.state.phase, self.state.done, self.state.sums = DONE, 0, {}

    def _run_phase(self, phase: Phase, stop: StopFlag) -> None:
        stage, st, parallel = self._stage, self.state, self.parallel
        assert stage is not None
        bar = progress(phase.steps, desc=phase.desc or phase.name, quiet=self.quiet)
        bar.update(st.done)
        with bar:
            while st.done < phase.steps:
                if st.done % phase.period == 0:
                    st.sums = {}
                tally = stage.step(st.done)
                st.done += 1
                loss = float(tally.get("loss", 0.0))
                for key, value in tally.items():
                    st.sums[key] = st.sums.get(key, 0.0) + float(value)
                bar.update(1)
                if self.on_step is not None:
                    self.on_step(phase.name, st.done)
                stopping, bad = parallel.flags(stop.raised, not math.isfinite(loss))
                if bad:
                    raise Diverged(
                        f"the loss became {loss} at step {st.done} of {phase.name}",
                        phase=phase.name,
                        step=st.done,
                    )
                if st.done % phase.period == 0 or st.done == phase.steps:
                    # before a stop: a checkpoint taken after a period's last step is past
                    # its end, and a resumed run does not end that period again
                    totals = {k: parallel.sum(v) for k, v in st.sums.items()}
                    row = stage.end_period(totals, st.done)
                    if row is not None:
                        st.history.append(row)
                        bar.set_postfix(_postfix(row), refresh=False)
                if stopping:
                    self.checkpoint()
                    raise Interrupted(f"interrupted after step {st.done} of {phase.name}")
                if phase.checkpoint_every and st.done % phase.checkpoint_every == 0:
                    if st.done < phase.steps:  # the phase's end is saved by the caller
                        self.checkpoint()


def _postfix(row: Mapping[str, Any]) -> dict[str, str]:
    keys = [k for k in ("epoch", "loss", "train_loss", "batch_accuracy", "val_accuracy") if k in row]
    return {k: (f"{row[k]:.4g}" if isinstance(row[k], float) else str(row[k])) for k in keys}
