"""Assemble the corpus build: ingest -> clean -> dedupe -> split -> segment -> vocab -> examples -> write.

Every stage is a PTransform from `transforms/`; this module only wires them and the writers, so the
same graph runs on the FnApiRunner, the DirectRunner, Dataflow, Spark or Flink.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam

from pipelines.config import BuildConfig
from pipelines.manifest_stage import WriteManifest
from schemas.tables import DOCUMENTS, DUPLICATES, EXAMPLES, FILTERED, REJECTS, SIGNATURES
from transforms.cleaning.stage import CleanDocuments
from transforms.dedupe.stage import DedupeDocuments
from transforms.examples.transform import MakeExamples
from transforms.ingest import IngestFiles, InputFile
from transforms.segment import SegmentDocuments
from transforms.shard_writer import WriteTable
from transforms.splits import AssignSplits
from transforms.stats import STATS, SumStats
from transforms.vocab import TrainVocab

#: Files the vocab stage writes outside the table writer; listed in the manifest.
VOCAB_FILES = ("vocab/spiece.model", "vocab/spiece.vocab")


@dataclass
class _Outputs:
    """What the stages hand to the manifest: file records and counters, gathered as the graph grows."""

    output: str
    cfg: BuildConfig
    files: list = field(default_factory=list)
    stats: list = field(default_factory=list)
    base_signatures: list | None = None  # SIGNATURES files of the base version (`longlm build --base`)

    def write(self, label: str, rows, spec, shards: int, subdir: str | None = None, row_group_size: int = 1024):
        self.files.append(rows | label >> WriteTable(spec, self.output, shards, subdir, row_group_size))


def assemble(p: beam.Pipeline, cfg: BuildConfig, files: list[InputFile], output: str, input_patterns: list[str],
             base_signatures: list[str] | None = None):
    """Add the whole build to pipeline `p`. Returns the manifest PCollection (one element).

    `base_signatures`: the base version's signatures/ files; new documents are deduped against it."""
    out = _Outputs(output.rstrip("/"), cfg, base_signatures=base_signatures)
    o = cfg.output
    ingested = p | "ListInputs" >> beam.Create(files) | "Ingest" >> IngestFiles(cfg.ingest)
    out.stats.append(ingested[STATS])
    out.write("WriteRejects", ingested.rejects, REJECTS, o.side_table_shards)
    docs = _document_stages(ingested.documents, out)
    model = _example_stages(docs, out)
    return (
        (tuple(out.files) | "FlattenFiles" >> beam.Flatten(), tuple(out.stats) | "Counters" >> SumStats(), ingested.inputs)
        | "Manifest" >> WriteManifest(output, cfg.to_dict(), input_patterns, extra_files=VOCAB_FILES, after=model)
    )


def _document_stages(docs, out: _Outputs):
    """Clean + filter, dedupe, assign splits; write filtered/, duplicates/, documents/. Returns the kept docs."""
    cfg, o = out.cfg, out.cfg.output
    cleaned = docs | "Clean" >> CleanDocuments(cfg.clean, cfg.filter)
    out.stats.append(cleaned[STATS])
    out.write("WriteFiltered", cleaned.filtered, FILTERED, o.side_table_shards)
    deduped = cleaned.kept | "Dedupe" >> DedupeDocuments(cfg.dedupe, cfg.boilerplate, out.base_signatures)
    out.stats.append(deduped.stats)
    out.write("WriteDuplicates", deduped.duplicates, DUPLICATES, o.side_table_shards)
    out.write("WriteSignatures", deduped.signatures, SIGNATURES, o.side_table_shards)
    kept = deduped.kept | "Split" >> AssignSplits(cfg.examples.validation_fraction, cfg.seed)
    out.write("WriteDocuments", kept, DOCUMENTS, o.documents_shards, row_group_size=o.documents_row_group_size)
    return kept


def _example_stages(docs, out: _Outputs):
    """Segment, train (or reuse) the vocabulary, make examples; write examples/. Returns the model PCollection."""
    cfg, o = out.cfg, out.cfg.output
    segmented = docs | "Segment" >> SegmentDocuments(cfg.segment, cfg.examples)
    out.stats.append(segmented[STATS])
    model = segmented.segments | "Vocab" >> TrainVocab(cfg.vocab, cfg.seed, out.output)
    examples = segmented.segments | "Examples" >> MakeExamples(cfg.examples, cfg.seed, model=model)
    out.stats.append(examples[STATS])
    for split in ("train", "validation"):
        out.write(f"WriteExamples{split.title()}", getattr(examples, split), EXAMPLES, o.examples_shards,
                  subdir=f"examples/{split}", row_group_size=o.examples_row_group_size)
    return model
