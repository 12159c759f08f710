"""The corpus config: one TOML file, one table per stage, loaded into the stages' dataclasses.

`longlm init-config` prints every key with its default and a comment. Loading validates everything
before a pipeline is built: an unknown table or key, a wrong type or an impossible value raises
ConfigError naming the key, and the CLI exits 2 with that message.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import sys
from dataclasses import dataclass
from typing import Any, ClassVar

import tomli_w

from schemas.manifest import FINGERPRINTS_KEY
from transforms.config_base import ConfigError, StageConfig, knob
from transforms.ingest.parse import IngestConfig

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


#: Parquet bytes per raw input byte, measured on real novels (bench/README.md, the 120 GB plan). Used only
#: to choose shard counts.
DOCUMENTS_PARQUET_PER_INPUT_BYTE = 0.56
EXAMPLES_PARQUET_PER_INPUT_BYTE = 0.49


@dataclass(frozen=True)
class OutputConfig(StageConfig):
    """Parquet output: shard counts and row groups. Resolved shard counts are recorded in the manifest's config."""

    section: ClassVar[str] = "output"
    documents_shards: int = knob(0, "Parquet shards for documents/ (kept documents with text); 0 = derive from the input bytes and target_shard_mb at launch")
    examples_shards: int = knob(0, "Parquet shards for each of examples/train and examples/validation; 0 = derive from the input bytes and target_shard_mb at launch")
    target_shard_mb: float = knob(192.0, "With documents_shards or examples_shards = 0: aimed-for Parquet MB per shard (the writer streams, so this sizes files, not worker memory)")
    side_table_shards: int = knob(1, "Parquet shards for rejects/, filtered/ and duplicates/")
    documents_row_group_size: int = knob(64, "Rows per Parquet row group in documents/ (documents are large)")
    examples_row_group_size: int = knob(1024, "Rows per Parquet row group in examples/ (sized for streaming)")

    def check(self) -> None:
        for name in ("documents_shards", "examples_shards"):
            self.require(getattr(self, name) >= 0, name, "must be >= 0 (0 = derive from the input size)")
        self.require(self.target_shard_mb > 0, "target_shard_mb", "must be > 0")
        for name in ("side_table_shards", "documents_row_group_size", "examples_row_group_size"):
            self.require(getattr(self, name) >= 1, name, "must be >= 1")

    def shards_for(self, input_bytes: int) -> dict[str, int]:
        """The shard counts for `input_bytes` of raw input: the configured ones, or derived where they are 0.

        A pure function of the config and the input size, so the resolved config (hence the version
        id) is a function of config + inputs.
        """
        target = self.target_shard_mb * 1e6

        def derive(configured: int, ratio: float) -> int:
            return configured or max(1, math.ceil(input_bytes * ratio / target - 1e-9))  # 1e-9: float noise

        return {"documents_shards": derive(self.documents_shards, DOCUMENTS_PARQUET_PER_INPUT_BYTE),
                "examples_shards": derive(self.examples_shards, EXAMPLES_PARQUET_PER_INPUT_BYTE)}


def _stage_classes() -> dict[str, type]:
    """Config table name -> dataclass, in pipeline order."""
    classes: list[type] = [IngestConfig]
    classes += _optional_stages()
    classes.append(OutputConfig)
    return {cls.section: cls for cls in classes}


def _optional_stages() -> list[type]:
    from transforms.cleaning.config import CleanConfig, FilterConfig
    from transforms.decontam.config import DecontaminateConfig
    from transforms.dedupe.config import BoilerplateConfig, DedupeConfig
    from transforms.examples.config import ExamplesConfig
    from transforms.segment import SegmentConfig
    from transforms.vocab import VocabConfig

    return [CleanConfig, FilterConfig, DedupeConfig, BoilerplateConfig, DecontaminateConfig, SegmentConfig,
            VocabConfig, ExamplesConfig]


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
        """Every key with its value (defaults filled in): the canonical form hashed into the version id.

        A [decontaminate] table without files is left out: a build without an evaluation set records (and
        hashes) the same config as before the stage existed, so its version id is unchanged."""
        out: dict[str, Any] = dataclasses.asdict(self.top)
        for name, stage in self.stages.items():
            if name == "decontaminate" and not stage.enabled:  # type: ignore[attr-defined]
                continue
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


def resolve_output_shards(cfg: BuildConfig, patterns: list[str] | None, paths: list[str] | None = None) -> BuildConfig:
    """`cfg` with output shard counts of 0 replaced by the counts derived from the inputs' total size.

    A config whose counts are all set is returned unchanged (nothing is listed). The size is that of
    the files `paths` (all files when None) matched by `patterns`; `patterns` None (a dry run, which
    does not list remote inputs) resolves to 1 shard.
    """
    out: OutputConfig = cfg.output  # type: ignore[attr-defined]
    if out.documents_shards and out.examples_shards:
        return cfg
    size = input_bytes(patterns, paths) if patterns is not None else 0
    return cfg.replace("output", **out.shards_for(size))


def input_bytes(patterns: list[str], paths: list[str] | None = None) -> int:
    """Total size of the files `patterns` match, folders read recursively (only those in `paths` when
    given), each counted once.

    One or two Beam FileSystems listings per pattern, so a corpus of many files costs no per-file calls.
    """
    from apache_beam.io.filesystems import FileSystems

    from pipelines.build.inputs import listing_patterns

    wanted = set(paths) if paths is not None else None
    sizes: dict[str, int] = {}
    for result in FileSystems.match(listing_patterns(patterns)) if patterns else []:
        for meta in result.metadata_list:
            if wanted is None or meta.path in wanted:
                sizes[meta.path] = meta.size_in_bytes
    return sum(sizes.values())


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
    """Validate a parsed TOML document into a BuildConfig. Raises ConfigError naming the bad key.

    A manifest's recorded config also holds ``fingerprints`` (content hashes and package versions,
    :mod:`pipelines.build.fingerprints`): derived data that every build recomputes, so it is set aside here
    and a recorded config can be built again as it is (``longlm reproduce``, ``build --base``).
    """
    classes = _stage_classes()
    data = {k: v for k, v in data.items() if k != FINGERPRINTS_KEY}
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
            raise ConfigError("--config", f"{path}: not valid TOML: {e}") from e
        except OSError as e:
            raise ConfigError("--config", f"{path}: cannot read the config file: {e}") from e
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
