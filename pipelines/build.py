"""Assemble the corpus build: ingest -> clean -> dedupe -> split -> segment -> vocab -> examples -> write.

Every stage is a PTransform from `transforms/`; this module only wires them and the writers, so the
same graph runs on the FnApiRunner, the DirectRunner, Dataflow, Spark or Flink.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam

from pipelines.config import BuildConfig
from pipelines.manifest_stage import WriteManifest
from schemas.tables import DOCUMENTS, DUPLICATES, EXAMPLES, FILTERED, REJECTS
from transforms.ingest import IngestFiles, InputFile
from transforms.shard_writer import WriteTable
from transforms.stats import STATS, SumStats


@dataclass
class _Outputs:
    """What the stages hand to the manifest: file records and counters, gathered as the graph grows."""

    output: str
    cfg: BuildConfig
    files: list = field(default_factory=list)
    stats: list = field(default_factory=list)

    def write(self, label: str, rows, spec, shards: int, subdir: str | None = None, row_group_size: int = 1024):
        self.files.append(rows | label >> WriteTable(spec, self.output, shards, subdir, row_group_size))


def assemble(p: beam.Pipeline, cfg: BuildConfig, files: list[InputFile], output: str, input_patterns: list[str]):
    """Add the whole build to pipeline `p`. Returns the manifest PCollection (one element)."""
    out = _Outputs(output.rstrip("/"), cfg)
    o = cfg.output
    ingested = p | "ListInputs" >> beam.Create(files) | "Ingest" >> IngestFiles(cfg.ingest)
    out.stats.append(ingested[STATS])
    out.write("WriteRejects", ingested.rejects, REJECTS, o.side_table_shards)
    docs, after = _corpus_stages(ingested.documents, out)
    return (
        (tuple(out.files) | "FlattenFiles" >> beam.Flatten(), tuple(out.stats) | "Counters" >> SumStats(), ingested.inputs)
        | "Manifest" >> WriteManifest(output, cfg.to_dict(), input_patterns, after=after)
    )


def _corpus_stages(docs, out: _Outputs):
    """Clean, dedupe, split and write documents; then examples. Returns (docs, a PCollection to wait on)."""
    cfg, o = out.cfg, out.cfg.output
    out.write("WriteDocuments", docs, DOCUMENTS, o.documents_shards, row_group_size=o.documents_row_group_size)
    return docs, docs
