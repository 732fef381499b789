"""What every command shares: flag types, the run flags, and flags -> one frozen config.

Every sub-parser is built with ``argument_default=SUPPRESS``: a flag that was not given is
absent from the parsed namespace, so a command knows exactly what the user asked for. The
defaults live in one place, the configuration dataclass (its fields' defaults); the parser
only shows them in the help. Nothing here imports torch.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = [
    "UsageError",
    "RUN_FLAGS",
    "add_run_flags",
    "config_for",
    "flag",
    "given",
    "positive_float",
    "positive_int",
    "nonnegative_int",
    "seed",
    "threads",
    "CAPS",
    "check_caps",
    "SourceLog",
    "run_options",
    "set_threads",
    "keep_freed_memory",
    "show",
]

#: flags that say how to run, never what: they are not part of a configuration and a
#: resumed run may change them.
RUN_FLAGS = (
    "out",
    "resume",
    "overwrite",
    "quiet",
    "threads",
    "checkpoint_every",
    "plots",
    "check",
    "memory_limit",
    "allow_large",
)

#: the largest integer any flag takes: a count beyond it is a typo, whatever the cap.
HARD_MAX = 2**62
#: seeds are 32-bit: numpy, torch and Python's random all take them, and the run's streams
#: (seed * 1000 + k) stay within 64 bits.
SEED_MAX = 2**32 - 1

#: soft caps on sizes: field -> (largest value, why). ``--allow-large`` lifts them; the memory
#: guard still refuses a run that cannot fit.
CAPS: dict[str, tuple[int, str]] = {
    "nf": (1024, "each layer holds nf x nf weights; the papers use 2 to 64 features"),
    "layers": (10_000, "the papers use 4 to 64 layers; each one is a step of every pass"),
    "epochs": (100_000, "beyond any schedule the papers use; a run would take days"),
    "batch_size": (1_000_000, "larger than any data set here"),
    "steps": (10_000_000, "beyond any schedule the papers use; a run would take days"),
    "trajectory_steps": (10_000_000, "beyond any schedule the papers use"),
    "hidden": (65_536, "a hidden width w holds w^2 weights per layer"),
    "eval_points": (1_000_000, "saved states per rollout"),
    "stages": (3, "each further stage halves the 28-pixel image, 28 -> 14 -> 7"),
    "shift": (14, "a shift of half the 28-pixel image leaves little of the digit"),
    "frames": (1_000, "every GIF frame is drawn and held in memory"),
    "val_size": (60_000, "the image training sets hold 60000 images"),
}
#: the most hidden layers of an HNN (``--hidden`` with more widths is refused)
MAX_HIDDEN_LAYERS = 64


class UsageError(ValueError):
    """A user-facing error: printed as one line, exit status 2."""


def _integer(text: str, lowest: int, highest: int = HARD_MAX, why: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text[:40]!r}") from None
    if value < lowest:
        raise argparse.ArgumentTypeError(f"expected an integer >= {lowest}, got {value}")
    if value > highest:
        shown = f"{value:.3g}" if value > 10**12 else str(value)
        raise argparse.ArgumentTypeError(
            f"expected an integer <= {highest}{f' ({why})' if why else ''}, got {shown}"
        )
    return value


def threads(text: str) -> int:
    return _integer(text, 1, 1024, "more threads than any machine has cores")


def seed(text: str) -> int:
    return _integer(text, 0, SEED_MAX, "seeds are 32-bit")


def positive_int(text: str) -> int:
    return _integer(text, 1)


def nonnegative_int(text: str) -> int:
    return _integer(text, 0)


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text}")
    return value


def check_caps(flags: Mapping[str, Any], flag_of: Callable[[str], str] | None = None) -> None:
    """Refuse a size above its soft cap (:data:`CAPS`) unless ``--allow-large`` was given."""
    flag_of = flag_of or flag
    hidden = flags.get("hidden")
    if hidden is not None and len(hidden) > MAX_HIDDEN_LAYERS:
        raise UsageError(
            f"--hidden has {len(hidden)} widths; at most {MAX_HIDDEN_LAYERS} hidden layers."
        )
    if flags.get("allow_large"):
        return
    for name, (cap, why) in CAPS.items():
        value = flags.get(name)
        values = value if isinstance(value, (tuple, list)) else (value,)
        big = [v for v in values if isinstance(v, int) and v > cap]
        if big:
            raise UsageError(
                f"{flag_of(name)} {big[0]} is above its cap of {cap} ({why}); pass "
                f"--allow-large if you mean it (the memory guard still applies)."
            )


class SourceLog:
    """Progress lines on stderr, except that a data source's failure line (``...: failed:
    ...``) is held until the next line: printed if a later source works, dropped if every
    source fails (the error, one line, repeats every failure)."""

    def __init__(self) -> None:
        self.held: list[str] = []

    def __call__(self, line: str) -> None:
        import sys

        if ": failed: " in line:
            self.held.append(line)
            return
        for held in self.held:
            print(held, file=sys.stderr)
        self.held.clear()
        print(line, file=sys.stderr)


def flag(name: str) -> str:
    """The flag that sets ``name``: ``t_end`` -> ``--t-end``."""
    return "--" + name.replace("_", "-")


def show(value: Any) -> str:
    """A value as a user would type it."""
    if isinstance(value, (tuple, list)):
        return ",".join(map(str, value))
    return str(value)


def given(args: argparse.Namespace) -> dict[str, Any]:
    """The flags the user gave (the parsers suppress every default)."""
    return {k: v for k, v in vars(args).items() if k not in ("func", "command")}


def add_run_flags(
    p: argparse.ArgumentParser, *, resume: bool = True, name: str = "<dataset>_<model>"
) -> argparse._ArgumentGroup:
    """``--out``, ``--overwrite``, ``--resume``, ``--quiet``, ``--threads``, ``--device``;
    returns their group (a command adds its own run flags to it)."""
    g = p.add_argument_group("run folder and machine (a resumed run may change these)")
    g.add_argument(
        "--out",
        metavar="DIR",
        help=f"run folder (default: a fresh runs/{name}, runs/{name}_2, ...); a folder that "
        "holds a run is refused unless --overwrite",
    )
    g.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the run in --out (only a hamnets run or an empty folder)",
    )
    if resume:
        g.add_argument(
            "--resume",
            metavar="DIR",
            help="continue the run in DIR with its own configuration (a flag that would change "
            "the result is an error)",
        )
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    g.add_argument(
        "--threads",
        type=threads,
        help="torch CPU threads (default 1: fastest for these small matrices)",
    )
    g.add_argument("--device", help="cpu, cuda or cuda:N (default cpu)")
    g.add_argument(
        "--check",
        action="store_true",
        help="validate the flags, the data, the memory and the run folder, print what would "
        "run, and stop before training (nothing is written)",
    )
    g.add_argument(
        "--memory-limit",
        type=positive_float,
        metavar="GB",
        help="memory the run may use, in GB (default: what the machine has available); a run "
        "estimated to need more is refused before it starts",
    )
    g.add_argument(
        "--allow-large",
        action="store_true",
        help="lift the caps on sizes (--nf, --layers, --epochs, ...; see docs/cli.md)",
    )
    return g


#: glibc malloc: blocks up to this many bytes come from the heap (not a fresh mmap each) ...
MALLOC_MMAP_THRESHOLD = 32 * 2**20
#: ... and up to this many free bytes at the heap's top are kept, not handed back.
MALLOC_TRIM_THRESHOLD = 256 * 2**20


def set_threads(flags: Mapping[str, Any]) -> None:
    """The process's CPU settings, once, at the command's start: ``--threads`` torch threads
    (default 1), as many for numpy's OpenBLAS (``OPENBLAS_NUM_THREADS``, unless the
    environment sets it, and only while numpy is not imported yet: with one thread asked for,
    no pool of OpenBLAS threads is started to spin beside the run), :func:`keep_freed_memory`,
    and the garbage collector's generations emptied into its permanent one (``gc.freeze``):
    the objects alive now (torch's and the other imported modules', hundreds of thousands)
    are no longer walked by each collection that a training loop's short-lived objects
    trigger (about 3% of ``hamnets hnn --system spring``'s CPU time, in ``perf``)."""
    import gc
    import os
    import sys

    threads = flags.get("threads", 1)
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", str(threads))
    import torch

    torch.set_num_threads(threads)
    keep_freed_memory()
    gc.freeze()


def keep_freed_memory() -> bool:
    """Let glibc's malloc reuse freed blocks instead of returning them to the system.

    A training step allocates and frees the same few activation-sized buffers (600 kB for
    the spring's 750 x 200) thousands of times. glibc serves blocks above its mmap
    threshold with a fresh ``mmap`` and trims the heap's free top back to the system, so
    every step faults the same pages in again: about 2 million page faults and 4-5 s of
    system time in ``hamnets hnn --system spring`` (``benchmarks/hnn_speed.py``). With the
    thresholds raised (``mallopt``, the same as ``MALLOC_MMAP_THRESHOLD_`` and
    ``MALLOC_TRIM_THRESHOLD_`` in the environment) the memory is reused; the process keeps
    its peak heap until it exits. Returns False where the C library is not glibc.
    """
    import ctypes
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
    ok = mallopt(m_mmap_threshold, MALLOC_MMAP_THRESHOLD) == 1
    return mallopt(m_trim_threshold, MALLOC_TRIM_THRESHOLD) == 1 and ok


def run_options(flags: Mapping[str, Any]):
    """The :class:`~hamnets.training.RunOptions` the run flags ask for."""
    from ..training import RunOptions

    return RunOptions(
        out=flags.get("out"),
        resume=flags.get("resume"),
        overwrite=flags.get("overwrite", False),
        quiet=flags.get("quiet", False),
        checkpoint_every=flags.get("checkpoint_every"),
        plots=flags.get("plots", True),
        check=flags.get("check", False),
        memory_limit=None if "memory_limit" not in flags else flags["memory_limit"] * 1e9,
    )


def print_plan(plan: Mapping[str, Any]) -> None:
    """What ``--check`` found: the configuration, the folder, the memory estimate."""
    import json

    memory = plan.get("memory") or {}
    need, have = memory.get("estimate_bytes"), memory.get("available_bytes")
    if need is not None:
        from ..training._resources import human_bytes

        room = f"about {human_bytes(need)} of memory ({human_bytes(have)} available)"
    else:
        room = "memory not estimated"
    verb = "resume" if plan.get("resume") else "run"
    print(json.dumps(plan.get("config", {}), indent=2, sort_keys=True))
    data = f" Data: {plan['data']}." if plan.get("data") else ""
    print(f"check passed: would {verb} {plan.get('kind')} in {plan.get('folder')}, {room}.{data}")


def stored_config(cls: type, folder: str):
    """The configuration of the run in ``folder`` (its ``config.json``)."""
    from pathlib import Path

    from ..training import RunDir

    if not Path(folder).is_dir():
        raise UsageError(f"--resume {folder}: no such folder; pass the folder of an earlier run.")
    return cls.from_dict(RunDir(folder).read_json("config.json"), source=f"{folder}/config.json")


def config_for(
    cls: type,
    settings: Mapping[str, Any],
    *,
    resume: str | None,
    what: str,
    fill: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    flag_of: Callable[[str], str] = flag,
):
    """One frozen configuration from the settings the flags gave.

    Args:
        cls: the configuration class (a :class:`~hamnets.training.RunConfig` dataclass).
        settings: configuration field -> value, for the flags that were given.
        resume: the folder of a run to continue, or None for a new run.
        what: the task, for messages (``2D data``, ``image data sets``).
        fill: for a new run, completes the settings with defaults that depend on others.
        flag_of: the flag that sets a field (for messages).

    Returns:
        The configuration: a new one, or the resumed run's own (with any free field changed).

    Raises:
        UsageError: a flag that does not apply to the task, or one that would change the
            result of the run being resumed (naming the flag, the run's value and the given).
    """
    fields = {f.name for f in dataclasses.fields(cls)}
    foreign = [name for name in settings if name not in fields]
    if foreign:
        raise UsageError(f"{flag_of(foreign[0])} does not apply to {what}; drop it.")
    if resume is None:
        return cls(**(fill(dict(settings)) if fill else dict(settings)))
    stored = stored_config(cls, resume)
    free = cls.free_fields()
    changed = [
        f"{flag_of(name)} {show(getattr(stored, name))} (given: {show(value)})"
        for name, value in sorted(settings.items())
        if name not in free and _normal(getattr(stored, name)) != _normal(value)
    ]
    if changed:
        raise UsageError(
            f"--resume {resume}: the run was made with {'; '.join(changed)}. A resumed run keeps "
            f"its configuration: drop these flags, or start a new run."
        )
    return dataclasses.replace(stored, **{k: v for k, v in settings.items() if k in free})


def _normal(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_normal(v) for v in value)
    return value


def refuse(flags: Iterable[str], reason: str) -> None:
    """Refuse the first of ``flags`` with ``reason``."""
    flags = list(flags)
    if flags:
        raise UsageError(f"{flag(flags[0])} {reason}")
