"""The corpus config: one TOML file, one table per stage, loaded into the stages' dataclasses.

`longlm init-config` prints every key with its default and a comment. Loading validates everything
before a pipeline is built: an unknown table or key, a wrong type or an impossible value raises
ConfigError naming the key, and the CLI exits 2 with that message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import tomli_w

from transforms.config_base import ConfigError, StageConfig, knob
from transforms.ingest import IngestConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


@dataclass(frozen=True)
class CorpusConfig(StageConfig):
    """Top-level keys (outside any table)."""

    section: ClassVar[str] = ""
    seed: int = knob(20240101, "Corpus seed: every random choice derives from it and stable ids (doc_id, segment index)")
    name: str = knob("longlm-corpus", "Free-form corpus name recorded in the manifest")
    base_version_id: str = knob(
        "", "Version id of the base this version increments; set by `longlm build --base DIR`, empty for a full build"
    )


@dataclass(frozen=True)
class OutputConfig(StageConfig):
    section: ClassVar[str] = "output"
    documents_shards: int = knob(8, "Parquet shards for documents/ (kept documents with text); ~0.5-1 GB each at scale")
    examples_shards: int = knob(8, "Parquet shards for each of examples/train and examples/validation")
    side_table_shards: int = knob(1, "Parquet shards for rejects/, filtered/ and duplicates/")
    documents_row_group_size: int = knob(64, "Rows per Parquet row group in documents/ (documents are large)")
    examples_row_group_size: int = knob(1024, "Rows per Parquet row group in examples/ (sized for streaming)")

    def check(self) -> None:
        for name in ("documents_shards", "examples_shards", "side_table_shards",
                     "documents_row_group_size", "examples_row_group_size"):
            self.require(getattr(self, name) >= 1, name, "must be >= 1")


def _stage_classes() -> dict[str, type]:
    """Config table name -> dataclass, in pipeline order."""
    classes: list[type] = [IngestConfig]
    classes += _optional_stages()
    classes.append(OutputConfig)
    return {cls.section: cls for cls in classes}


def _optional_stages() -> list[type]:
    from transforms.cleaning.config import CleanConfig, FilterConfig
    from transforms.dedupe.config import BoilerplateConfig, DedupeConfig
    from transforms.examples.config import ExamplesConfig
    from transforms.segment import SegmentConfig
    from transforms.vocab import VocabConfig

    return [CleanConfig, FilterConfig, DedupeConfig, BoilerplateConfig, SegmentConfig, VocabConfig, ExamplesConfig]


class BuildConfig:
    """The whole validated config: top-level keys plus one attribute per stage table."""

    def __init__(self, top: CorpusConfig, stages: dict[str, StageConfig]):
        self.top = top
        self.stages = stages
        for name, value in stages.items():
            setattr(self, name, value)

    @property
    def seed(self) -> int:
        return self.top.seed

    def to_dict(self) -> dict[str, Any]:
        """Every key with its value (defaults filled in): the canonical form hashed into the version id."""
        out: dict[str, Any] = dataclasses.asdict(self.top)
        for name, stage in self.stages.items():
            out[name] = dataclasses.asdict(stage)
        return out

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()

    def replace(self, section: str, **changes: Any) -> "BuildConfig":
        """A copy with some keys of one table changed, validated again."""
        stages = dict(self.stages)
        stages[section] = dataclasses.replace(stages[section], **changes)
        stages[section].validate()
        return BuildConfig(self.top, stages)


def _build(cls: type, values: dict[str, Any], prefix: str) -> StageConfig:
    known = {f.name for f in dataclasses.fields(cls)}
    for key in values:
        if key not in known:
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(where, f"unknown key (known keys: {', '.join(sorted(known))})")
    obj = cls(**values)
    obj.validate()
    return obj


def config_from_dict(data: dict[str, Any]) -> BuildConfig:
    """Validate a parsed TOML document into a BuildConfig. Raises ConfigError naming the bad key."""
    classes = _stage_classes()
    top_values = {k: v for k, v in data.items() if not isinstance(v, dict)}
    for key, value in data.items():
        if isinstance(value, dict) and key not in classes:
            raise ConfigError(key, f"unknown table (known tables: {', '.join(classes)})")
    top = _build(CorpusConfig, top_values, "")
    stages = {name: _build(cls, data.get(name, {}), name) for name, cls in classes.items()}
    return BuildConfig(top, stages)  # type: ignore[arg-type]


def load_config(path: str | None = None, overrides: dict[str, dict[str, Any]] | None = None) -> BuildConfig:
    """Read a TOML config (None: all defaults) through Beam FileSystems, apply overrides, validate."""
    data: dict[str, Any] = {}
    if path:
        from apache_beam.io.filesystems import FileSystems

        try:
            with FileSystems.open(path) as f:
                data = tomllib.loads(f.read().decode("utf-8"))
        except tomllib.TOMLDecodeError as e:
            raise ConfigError(path, f"not valid TOML: {e}") from e
        except OSError as e:
            raise ConfigError(path, f"cannot read config file: {e}") from e
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    return config_from_dict(data)


def render_default_config() -> str:
    """The full default config as commented TOML (what `longlm init-config` prints)."""
    lines = ["# longlm-pipeline corpus config. Every key is shown with its default value.", ""]
    for f in dataclasses.fields(CorpusConfig):
        lines += _render_field(f, CorpusConfig)
    for name, cls in _stage_classes().items():
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "(") else ""
        lines += ["", f"[{name}]"] + ([f"# {doc}"] if doc else [])
        for f in dataclasses.fields(cls):
            lines += _render_field(f, cls)
    return "\n".join(lines) + "\n"


def _render_field(f: dataclasses.Field, cls: type) -> list[str]:
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc]
    doc = f.metadata.get("doc", "")
    choices = f.metadata.get("choices")
    if choices:
        doc += f" (one of: {', '.join(map(str, choices))})"
    return [f"# {doc}", tomli_w.dumps({f.name: default}).rstrip("\n")]
