"""The life of a run folder around the engine, the same for every task.

A task's ``run(config, options)`` opens a :class:`RunSession`:

1. with ``options.resume`` it locks the folder, reads ``config.json`` and the checkpoint
   (``weights_only``, migrated from older formats), and checks that a configuration given
   beside it asks for the same run (fields marked free may differ);
2. the task validates everything it can (data, model) and then calls :meth:`RunSession.claim`,
   which for a new run chooses and locks the folder (``--out``, ``--overwrite`` or a fresh
   ``runs/NAME_k``) and writes ``config.json``; under ``torchrun`` rank 0 does this and tells
   the other ranks;
3. the engine trains; on divergence :meth:`RunSession.diverged` writes ``metrics.json`` with
   ``"status": "diverged"``;
4. closing the session releases the lock.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from ._configs import FORMAT, RunConfig, differences
from ._engine import Engine, Phase, TrainingTask
from ._errors import ConfigError, Diverged, Interrupted, RunFolderError
from ._folder import RunLock, claim_run_folder, plan_run_folder
from ._parallel import Parallel
from ._rundir import CONFIG, RunDir

__all__ = ["RunOptions", "RunResult", "RunSession"]

C = TypeVar("C", bound=RunConfig)


@dataclass(frozen=True)
class RunOptions:
    """How to run, never what: none of these can change the numbers of a run.

    Attributes:
        out: the folder of a new run (None: a fresh ``runs/NAME``, ``runs/NAME_2``, ...).
        resume: the folder of a run to continue (its ``config.json`` is the configuration).
        overwrite: replace the run in ``out``.
        quiet: no progress bar.
        checkpoint_every: steps between two checkpoints (None: the task's default).
        plots: write the task's pictures.
        folder: keep the run's files (False: train in memory, write nothing).
        check: validate everything (configuration, data, resources, run folder) and stop
            before training; nothing is created. The run returns the plan as its metrics
            (``"status": "checked"``).
        memory_limit: bytes the run may use (None: what the machine has available).
    """

    out: str | None = None
    resume: str | None = None
    overwrite: bool = False
    quiet: bool = True
    checkpoint_every: int | None = None
    plots: bool = True
    folder: bool = True
    check: bool = False
    memory_limit: float | None = None

    def __post_init__(self) -> None:
        if self.out is not None and self.resume is not None:
            raise ValueError(
                "give --resume DIR or --out DIR, not both: a resumed run writes to DIR."
            )
        if self.overwrite and self.resume is not None:
            raise ValueError("--overwrite starts a new run; it does not go with --resume.")
        if self.memory_limit is not None and not self.memory_limit > 0:
            raise ValueError(f"--memory-limit must be > 0, got {self.memory_limit}.")
        if self.checkpoint_every is not None and self.checkpoint_every < 0:
            raise ValueError(f"--checkpoint-every must be >= 0, got {self.checkpoint_every}.")


@dataclass
class RunResult:
    """What a run returns: its metrics (as in ``metrics.json``) and its folder (or None)."""

    metrics: dict[str, Any]
    run: RunDir | None = None


def _show(value: Any) -> str:
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


class RunSession(Generic[C]):
    """A run folder from opening to closing (see the module docstring).

    Args:
        cls: the task's configuration class.
        config: the configuration; with ``options.resume`` it may be None (take the run's),
            else it must ask for the same run.
        options: how to run.
        parallel: this process's place in a data-parallel job.
        migrate: turns a checkpoint of an older format into the current one.

    Attributes:
        config: the configuration of the run (with ``resume``: the stored one, with the
            free fields of the given one).
        checkpoint: the checkpoint to resume from, or None.
        run: the run folder (None until :meth:`claim` for a new run).
    """

    def __init__(
        self,
        cls: type[C],
        config: C | None,
        options: RunOptions,
        parallel: Parallel,
        *,
        migrate: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        self.cls, self.options, self.parallel = cls, options, parallel
        self.lock: RunLock | None = None
        self.run: RunDir | None = None
        self.checkpoint: dict[str, Any] | None = None
        self.resources: dict[str, Any] | None = None
        self.planned: Path | None = None
        if options.resume is None:
            if config is None:
                raise ValueError("a new run needs a configuration.")
            self.config: C = config
            return
        path = Path(options.resume)
        if not path.is_dir():
            raise RunFolderError(
                f"--resume {path}: no such folder; pass the folder of an earlier run."
            )
        if parallel.is_main:
            self.lock = RunLock(path)
        try:
            run = RunDir(path)
            stored = cls.from_dict(run.read_json(CONFIG), source=str(path / CONFIG))
            self.config = stored if config is None else self._same_run(config, stored, path)
            ckpt = run.load_checkpoint()
            if "format" not in ckpt:
                if migrate is None:
                    raise RunFolderError(f"{path / 'checkpoint.pt'} is of an older format.")
                ckpt = migrate(ckpt)
            self._check_checkpoint(ckpt, stored, path)
            self.checkpoint, self.run = ckpt, run
        except BaseException:
            self.close()
            raise

    def _same_run(self, given: C, stored: C, path: Path) -> C:
        changed = differences(given, stored)
        if changed:
            what = "; ".join(
                f"{name} = {_show(getattr(stored, name))} (given: {_show(getattr(given, name))})"
                for name in changed
            )
            raise ConfigError(
                f"--resume {path}: the run was made with {what}. A resumed run keeps its "
                f"configuration: drop these settings, or start a new run."
            )
        free = {name: getattr(given, name) for name in stored.free_fields()}
        return dataclasses.replace(stored, **free)

    def _check_checkpoint(self, ckpt: Mapping[str, Any], stored: C, path: Path) -> None:
        where = path / "checkpoint.pt"
        fmt = ckpt.get("format")
        if not isinstance(fmt, int) or fmt > FORMAT:
            raise RunFolderError(f"{where}: format {fmt!r} is not one this hamnets reads.")
        if ckpt.get("kind") != self.cls.KIND:
            raise RunFolderError(
                f"{where} is a {ckpt.get('kind')!r} checkpoint, not a {self.cls.KIND!r} one."
            )
        for key in ("config", "engine", "task"):
            if not isinstance(ckpt.get(key), Mapping):
                raise RunFolderError(f"{where}: no {key!r} in it; not a hamnets checkpoint.")
        inside = self.cls.from_dict(ckpt["config"], source=f"{where} (config)")
        if differences(inside, stored):
            raise RunFolderError(
                f"{where} was made with another configuration than {path / CONFIG} "
                f"(different: {', '.join(differences(inside, stored))}); the folder mixes "
                f"two runs."
            )

    @property
    def resuming(self) -> bool:
        return self.checkpoint is not None

    def guard(self, parts: Mapping[str, float], device: Any, hint: str = "") -> None:
        """The resource guard (:func:`~hamnets.training._resources.check_memory`): refuse
        the run if the memory it needs (``parts``, in bytes) exceeds what is available."""
        from ._resources import check_memory

        self.resources = check_memory(
            parts, device=device, limit=self.options.memory_limit, hint=hint
        )

    def plan(self) -> dict[str, Any]:
        """What ``--check`` reports: the configuration, the folder, the memory estimate."""
        folder = self.run.path if self.run is not None else self.planned
        return {
            "status": "checked",
            "kind": self.cls.KIND,
            "config": self.config.to_dict(),
            "folder": None if folder is None else str(folder),
            "resume": self.options.resume is not None,
            "memory": self.resources,
        }

    def claim(self, default_name: str) -> RunDir | None:
        """For a new run, choose and lock its folder and write ``config.json`` (rank 0); the
        folder of a resumed run as it is. None when ``options.folder`` is off. With
        ``options.check`` only the folder it would take is chosen (:attr:`planned`), and
        nothing is created."""
        if self.run is not None or not self.options.folder:
            return self.run
        if self.options.check:
            self.planned = plan_run_folder(
                self.options.out, default_name, overwrite=self.options.overwrite
            )
            return None
        path = None
        if self.parallel.is_main:
            run, self.lock = claim_run_folder(
                self.options.out, default_name, overwrite=self.options.overwrite
            )
            path = str(run.path)
        self.run = RunDir(str(self.parallel.broadcast(path)))
        if self.parallel.is_main:
            self.run.write_json(CONFIG, self.config.to_dict())
        return self.run

    def header(self) -> dict[str, Any]:
        """What every checkpoint of this run starts with."""
        return {"kind": self.cls.KIND, "config": self.config.to_dict()}

    def engine(
        self,
        task: TrainingTask,
        phases: list[Phase],
        *,
        on_step: Callable[[str, int], None] | None = None,
    ) -> Engine:
        """The engine of this run, at the resumed checkpoint's place if there is one."""
        engine = Engine(
            task,
            phases,
            run=self.run,
            header=self.header(),
            parallel=self.parallel,
            quiet=self.options.quiet,
            on_step=on_step,
        )
        if self.checkpoint is not None:
            engine.restore(self.checkpoint)
        return engine

    def train(self, engine: Engine, *, history: str = "history") -> None:
        """Run ``engine``'s phases. On Ctrl-C, ``history.csv`` is written beside the
        checkpoint; on divergence, ``metrics.json`` says so with the history so far under
        ``history``."""
        try:
            engine.run_phases()
        except Diverged as exc:
            self.diverged(exc, {history: engine.history})
            raise
        except Interrupted:
            if self.run is not None and self.parallel.is_main:
                self.run.write_csv("history.csv", engine.history)
            raise

    def diverged(self, exc: Diverged, extra: Mapping[str, Any] | None = None) -> None:
        """Write ``metrics.json`` with ``"status": "diverged"`` (rank 0)."""
        if self.run is None or not self.parallel.is_main:
            return
        self.run.write_json(
            "metrics.json",
            {"status": "diverged", "message": str(exc), "phase": exc.phase, "step": exc.step}
            | dict(extra or {}),
        )

    def close(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None

    def __enter__(self) -> RunSession[C]:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
