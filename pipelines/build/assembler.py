"""The stage walker behind pipelines.build.stages: stage and table declarations, and the rules that hold by construction.

* every stage returns a :class:`transforms.result.StageResult` (checked);
* every side output is claimed: one no :class:`Table` writes and the manifest does not read fails the
  assembly, so a table cannot be forgotten;
* every declared table is written by the one Parquet writer (one writer per directory, its sources
  flattened); the build adds every stage's counters and ``files`` to the manifest;
* dead letters keep the accounting identity: those of stages up to the one that writes documents/ are
  rejects rows; those of later stages reject their document (rejects/ instead of documents/) and drop
  its rows from every table written after documents/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import apache_beam as beam

from schemas.tables import DOCUMENTS, REJECTS, TableSpec
from transforms.dead_letters import RejectFailed, drop_failed, reject_row
from transforms.result import MAIN, StageResult
from transforms.shard_writer import WriteTable

#: (stage, side output) holding the input fingerprints the manifest records.
MANIFEST_INPUTS = ("Ingest", "inputs")


@dataclass(frozen=True)
class Table:
    """Write output `output` of a stage (MAIN or a side output's name) as Parquet table `spec` under
    `subdir` (default: the table name); `shards` and `row_group` name keys of the [output] config."""

    spec: TableSpec
    output: str = MAIN
    shards: str = "side_table_shards"
    row_group: str | None = None  # None: 1024 rows
    subdir: str | None = None

    @property
    def directory(self) -> str:
        return self.subdir or self.spec.name


@dataclass(frozen=True)
class Stage:
    """One step: `make(ctx)` builds its PTransform; it reads the main output of stage `input` (default: the
    previous stage) and writes `tables`."""

    name: str
    make: Callable[["Context"], beam.PTransform]
    input: str | None = None
    tables: tuple[Table, ...] = ()


@dataclass
class Context:
    """What a stage's `make` may use: the config, the output root, the base chain of an increment, the
    results of the stages before it (by name) and the evaluation files of `--decontaminate`."""

    cfg: object  # pipelines.build.config.BuildConfig
    output: str
    base: object = None  # transforms.dedupe.increment.BaseVersion
    results: dict[str, StageResult] = field(default_factory=dict)
    eval_files: list = field(default_factory=list)  # transforms.ingest.parse.InputFile


def run_stages(first_input, stages, ctx: Context) -> dict[str, StageResult]:
    """Apply `stages` in order (the first to `first_input`); results land in ``ctx.results`` by stage name."""
    previous = first_input
    for stage in stages:
        source = ctx.results[stage.input].main if stage.input else previous
        result = source | stage.name >> stage.make(ctx)
        if not isinstance(result, StageResult):
            raise TypeError(f"stage {stage.name} returned {type(result).__name__}, not a StageResult")
        ctx.results[stage.name] = result
        previous = result.main
    return ctx.results


def check_claimed(stages, results: dict[str, StageResult]) -> None:
    claimed = {(s.name, t.output) for s in stages for t in s.tables} | {MANIFEST_INPUTS}
    for stage in stages:
        for side in results[stage.name].side:
            if (stage.name, side) not in claimed:
                raise ValueError(f"stage {stage.name}: side output {side!r} is neither written nor read by the manifest")


def _label(table: Table) -> str:
    return "".join(part.title() for part in table.directory.split("/"))


def write_tables(stages, ctx: Context) -> list:
    """Write every declared table (one writer per directory, its sources flattened) with the dead-letter
    rule of the module docstring. Returns the writers' file-record PCollections."""
    results, o = ctx.results, ctx.cfg.output
    at = next(i for i, s in enumerate(stages) if any(t.spec is DOCUMENTS and t.output == MAIN for t in s.tables))
    early = [s for s in stages[: at + 1] if results[s.name].dead_letters is not None]
    late = [results[s.name].dead_letters for s in stages[at + 1:] if results[s.name].dead_letters is not None]
    failures = tuple(late) | "LaterFailures" >> beam.Flatten() if late else None
    sources: dict[str, list] = {REJECTS.name: []}
    tables: dict[str, Table] = {}
    for i, stage in enumerate(stages):
        for table in stage.tables:
            rows = results[stage.name].output(table.output)
            if failures is not None and i == at and table.spec is DOCUMENTS and table.output == MAIN:
                kept = (rows, failures) | "RejectFailed" >> RejectFailed()
                rows = kept.kept
                sources[REJECTS.name].append(kept.rejects)
            elif failures is not None and i > at:
                rows = drop_failed(rows, failures, f"Drop{_label(table)}OfFailed")
            tables.setdefault(table.directory, table)
            sources.setdefault(table.directory, []).append(rows)
    for stage in early:
        letters = results[stage.name].dead_letters
        sources[REJECTS.name].append(letters | f"{stage.name}Failures" >> beam.Map(lambda d: reject_row(d, d)))
    if sources[REJECTS.name] and REJECTS.name not in tables:
        raise ValueError("dead letters need a rejects table: declare Table(REJECTS, ...) on a stage")
    written = []
    for directory, table in tables.items():
        rows = sources[directory]
        rows = rows[0] if len(rows) == 1 else tuple(rows) | f"Flatten{_label(table)}" >> beam.Flatten()
        row_group = getattr(o, table.row_group) if table.row_group else 1024
        written.append(rows | f"Write{_label(table)}" >> WriteTable(
            table.spec, ctx.output, getattr(o, table.shards), table.subdir, row_group))
    return written
