"""What every run configuration shares: one way to write it, read it back and compare it.

A configuration is a frozen dataclass that mixes in :class:`RunConfig`. Its JSON form is the
dataclass's fields plus ``"format"`` (the run-folder format version). Reading a JSON file back
checks every key and the type of every value against the field's annotation (a user may have
edited the file: ``"lr": "abc"`` is one line naming the file and the key, never a
traceback), renames the keys of older versions (:attr:`RunConfig.RENAMED`), and then runs the
dataclass's own validation.

Fields whose ``metadata`` has ``free=True`` cannot change the numbers a run produces (the
device, where data are read from): a resumed run may change them. Every other field must equal
the run's own value.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

from ._errors import ConfigError

__all__ = ["RunConfig", "ConfigError", "FORMAT", "SEED_MAX", "check_seed", "free", "differences"]

#: the version of the run-folder format; checkpoints and configs carry it (absent: version 1).
FORMAT = 2

C = TypeVar("C", bound="RunConfig")

#: seeds are 32-bit: every generator takes them, and ``seed * 1000 + k`` stays in 64 bits.
SEED_MAX = 2**32 - 1


def check_seed(seed: object) -> None:
    """Refuse a seed that is not an integer in ``0 .. 2^32 - 1``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= SEED_MAX:
        raise ValueError(f"seed must be an integer in 0 .. {SEED_MAX} (32 bits), got {seed!r}.")


def free(default: Any) -> Any:
    """A field that a resumed run may change: it cannot change the numbers."""
    return dataclasses.field(default=default, metadata={"free": True})


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """``value`` as the type ``annotation`` names, or :class:`ConfigError`."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _coerce(value, a, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{key}: unexpected value {value!r}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} values, got {value!r}")
        return tuple(
            _coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True))
        )
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected an integer, got {value!r}")
    if annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{key}: expected a number, got {value!r}")
    if annotation is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    return value


class RunConfig:
    """Mixed into every frozen run configuration (a dataclass)."""

    #: the task's name, stored in checkpoints (``classify``, ``images``, ``hnn``).
    KIND: ClassVar[str] = ""
    #: older key -> current key, applied when a stored configuration is read.
    RENAMED: ClassVar[dict[str, str]] = {}
    #: key -> value for a stored configuration that lacks the key (it was written before the
    #: field existed, with the behaviour this value names).
    ABSENT: ClassVar[dict[str, Any]] = {}

    def to_dict(self) -> dict[str, Any]:
        """The fields as plain values (tuples become lists in JSON), and ``format``."""
        return {**dataclasses.asdict(self), "format": FORMAT}  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any], *, source: str = "config") -> C:
        """Build a configuration from stored values, checking each key and type.

        Args:
            data: the stored mapping (``config.json`` or a checkpoint's ``config``).
            source: what to name in an error (a file path).

        Raises:
            ConfigError: an unknown key, a value of the wrong type, or one the configuration
                refuses; the message names ``source`` and the key.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a JSON object of settings.")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        kwargs: dict[str, Any] = {k: v for k, v in cls.ABSENT.items() if k not in data}
        for key, value in data.items():
            if key == "format":
                if not isinstance(value, int) or isinstance(value, bool) or value > FORMAT:
                    raise ConfigError(
                        f"{source}: format {value!r} is newer than this hamnets reads "
                        f"(up to {FORMAT}); upgrade hamnets."
                    )
                continue
            name = cls.RENAMED.get(key, key)
            if name not in fields:
                raise ConfigError(
                    f"{source}: unknown key {key!r}; is it a {cls.KIND or cls.__name__} run?"
                )
            try:
                kwargs[name] = _coerce(value, hints[name], key)
            except ConfigError as exc:
                raise ConfigError(f"{source}: {exc}") from None
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{source}: {exc}") from None

    @classmethod
    def free_fields(cls) -> frozenset[str]:
        """Names of the fields a resumed run may change."""
        return frozenset(
            f.name
            for f in dataclasses.fields(cls)  # type: ignore[arg-type]
            if f.metadata.get("free")
        )


def differences(a: RunConfig, b: RunConfig, *, ignore_free: bool = True) -> list[str]:
    """Names of the fields where ``a`` and ``b`` differ (free fields left out by default)."""
    skip = a.free_fields() if ignore_free else frozenset()
    return [
        f.name
        for f in dataclasses.fields(a)  # type: ignore[arg-type]
        if f.name not in skip and getattr(a, f.name) != getattr(b, f.name)
    ]
