"""What every stage's config dataclass shares: documented fields, type checks and a named error.

A stage declares its knobs as a frozen dataclass whose fields are made with :func:`knob` (a default
plus a one-line doc that `longlm init-config` prints as a comment). `pipelines.build.config` loads TOML
into these dataclasses and calls :meth:`StageConfig.validate` once, before the pipeline starts.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or impossible. `key` names it: a config key
    ("clean.min_chars": "config key 'clean.min_chars': ...") or a flag ("--input": "--input ...")."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key} {message}" if key.startswith("-") else f"config key '{key}': {message}")
        self.key = key


def knob(default: Any, doc: str, choices: tuple | None = None) -> Any:
    """A config field with its default value, a doc line, and optionally the values it may take."""
    meta = {"doc": doc}
    if choices is not None:
        meta["choices"] = tuple(choices)
    if isinstance(default, (list, dict, set)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if hint is Any:
        return True
    if origin is typing.Union or str(origin) == "types.UnionType":
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if origin in (list, tuple):
        args = typing.get_args(hint)
        inner = args[0] if args else Any
        return isinstance(value, (list, tuple)) and all(_type_ok(v, inner) for v in value)
    if origin is dict:
        return isinstance(value, dict)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


class StageConfig:
    """Mixin for stage config dataclasses. Subclasses add range checks in :meth:`check`."""

    #: The TOML table this config is read from ("clean", "dedupe", ...). Set by each subclass.
    section: typing.ClassVar[str] = ""

    def validate(self) -> None:
        """Check every field's type and choices, then the stage's own rules. Raises ConfigError."""
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            key = f"{self.section}.{f.name}" if self.section else f.name
            if not _type_ok(value, hints.get(f.name, Any)):
                raise ConfigError(key, f"expected {_type_name(hints.get(f.name))}, got {value!r}")
            choices = f.metadata.get("choices")
            if choices is not None and value not in choices:
                raise ConfigError(key, f"must be one of {', '.join(map(repr, choices))}, got {value!r}")
        self.check()

    def check(self) -> None:
        """Stage-specific range checks; raise ConfigError via :meth:`require`. Default: none."""

    def require(self, condition: bool, field_name: str, message: str) -> None:
        """Raise ConfigError naming `section.field_name` unless `condition` holds."""
        if not condition:
            key = f"{self.section}.{field_name}" if self.section else field_name
            raise ConfigError(key, message)


def _type_name(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")
