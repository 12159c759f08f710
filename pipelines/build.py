"""The corpus build as data: :data:`STAGES` lists the stages and the tables each one writes; :func:`assemble` walks it.

Every stage is a PTransform from `transforms/` returning a :class:`transforms.result.StageResult`, so the
same graph runs on the FnApiRunner, the DirectRunner, Dataflow, Spark or Flink. By construction:

* every stage's counters reach the manifest (the assembler flattens every result's ``stats``);
* every output file is listed: each :class:`Table` is written by the one Parquet writer, and files a
  stage writes itself (the vocabulary) come back as file records in its result's ``files``;
* every side output is claimed: one no :class:`Table` writes and the manifest does not read fails the
  assembly, so a table cannot be forgotten;
* dead letters keep the accounting identity: those of stages before the one that writes documents/
  are rejects rows; those of later stages reject their document (rejects/ instead of documents/) and
  drop its rows from every table written after documents/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import apache_beam as beam

from pipelines.config import BuildConfig, resolve_output_shards
from pipelines.manifest_stage import WriteManifest
from schemas.tables import DOCUMENTS, DUPLICATES, EXAMPLES, FILTERED, REJECTS, SIGNATURES, TableSpec
from transforms.cleaning.stage import CleanDocuments
from transforms.dead_letters import RejectFailed, drop_failed, reject_row
from transforms.dedupe.stage import DedupeDocuments
from transforms.examples.transform import MakeExamples
from transforms.ingest import InputFile
from transforms.readers import IngestFiles
from transforms.result import MAIN, StageResult
from transforms.segment import SegmentDocuments
from transforms.shard_writer import WriteTable
from transforms.splits import AssignSplits
from transforms.stats import SumStats
from transforms.vocab import TrainVocab


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
    """What a stage's `make` may use: the config, the output root, the base version's signature files, and
    the results of the stages before it (by name)."""

    cfg: BuildConfig
    output: str
    base_signatures: list[str] | None = None
    results: dict[str, StageResult] = field(default_factory=dict)


_DOCS = ("documents_shards", "documents_row_group_size")
_EXAMPLES = ("examples_shards", "examples_row_group_size")

#: The build. Each stage's result must carry every counter it keeps; its side outputs must all be claimed.
STAGES = (
    Stage("Ingest", lambda x: IngestFiles(x.cfg.ingest), tables=(Table(REJECTS, "rejects"),)),
    Stage("Clean", lambda x: CleanDocuments(x.cfg.clean, x.cfg.filter), tables=(Table(FILTERED, "filtered"),)),
    Stage("Dedupe", lambda x: DedupeDocuments(x.cfg.dedupe, x.cfg.boilerplate, x.base_signatures),
          tables=(Table(DUPLICATES, "duplicates"), Table(SIGNATURES, "signatures"))),
    Stage("Split", lambda x: AssignSplits(x.cfg.examples.validation_fraction, x.cfg.seed),
          tables=(Table(DOCUMENTS, MAIN, *_DOCS),)),
    Stage("Segment", lambda x: SegmentDocuments(x.cfg.segment, x.cfg.examples)),
    Stage("Vocab", lambda x: TrainVocab(x.cfg.vocab, x.cfg.seed, x.output), input="Segment"),
    Stage("Examples", lambda x: MakeExamples(x.cfg.examples, x.cfg.seed, model=x.results["Vocab"]), input="Segment",
          tables=(Table(EXAMPLES, MAIN, *_EXAMPLES, subdir="examples/train"),
                  Table(EXAMPLES, "validation", *_EXAMPLES, subdir="examples/validation"))),
)
#: (stage, side output) holding the input fingerprints the manifest records.
MANIFEST_INPUTS = ("Ingest", "inputs")


def assemble(p: beam.Pipeline, cfg: BuildConfig, files: list[InputFile], output: str, input_patterns: list[str],
             manifest_config: dict | None = None, base_signatures: list[str] | None = None, stages=STAGES):
    """Add the whole build to pipeline `p`. Returns the manifest PCollection (one element).

    `manifest_config`: the config recorded in the manifest (default: pipelines.fingerprints.manifest_config).
    `base_signatures`: the base version's signatures/ files; new documents are deduped against it."""
    cfg = resolve_output_shards(cfg, input_patterns, [f.path for f in files])  # no-op once the CLI resolved them
    if manifest_config is None:
        from pipelines.fingerprints import manifest_config as fingerprinted

        manifest_config = fingerprinted(cfg)
    ctx = Context(cfg, output.rstrip("/"), base_signatures)
    run_stages(p | "ListInputs" >> beam.Create(files), stages, ctx)
    results = ctx.results
    _check_claimed(stages, results)
    records = _write_tables(stages, ctx) + [r.files for r in results.values() if r.files is not None]
    stats = tuple(r.stats for r in results.values() if r.stats is not None)
    stage, side = MANIFEST_INPUTS
    return (
        (tuple(records) | "FlattenFiles" >> beam.Flatten(), stats | "Counters" >> SumStats(),
         results[stage].output(side))
        | "Manifest" >> WriteManifest(output, manifest_config, input_patterns)
    )


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


def _check_claimed(stages, results: dict[str, StageResult]) -> None:
    claimed = {(s.name, t.output) for s in stages for t in s.tables} | {MANIFEST_INPUTS}
    for stage in stages:
        for side in results[stage.name].side:
            if (stage.name, side) not in claimed:
                raise ValueError(f"stage {stage.name}: side output {side!r} is neither written nor read by the manifest")


def _label(table: Table) -> str:
    return "".join(part.title() for part in table.directory.split("/"))


def _write_tables(stages, ctx: Context) -> list:
    """Write every declared table (one writer per directory, its sources flattened) with the dead-letter
    rule of the module docstring. Returns the writers' file-record PCollections."""
    results, o = ctx.results, ctx.cfg.output
    at = next(i for i, s in enumerate(stages) if any(t.spec is DOCUMENTS and t.output == MAIN for t in s.tables))
    early = [s for s in stages[: at + 1] if results[s.name].dead_letters is not None]
    late = [results[s.name].dead_letters for s in stages[at + 1:] if results[s.name].dead_letters is not None]
    failures = tuple(late) | "LaterFailures" >> beam.Flatten()
    sources: dict[str, list] = {REJECTS.name: []}
    tables: dict[str, Table] = {}
    for i, stage in enumerate(stages):
        for table in stage.tables:
            rows = results[stage.name].output(table.output)
            if i == at:
                kept = (rows, failures) | "RejectFailed" >> RejectFailed()
                rows = kept.kept
                sources[REJECTS.name].append(kept.rejects)
            elif i > at:
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
