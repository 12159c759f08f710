"""Assemble the corpus build: ingest -> clean -> dedupe -> split -> segment -> vocab -> examples -> write.

Every stage is a PTransform from `transforms/`; this module only wires them and the writers, so the
same graph runs on the FnApiRunner, the DirectRunner, Dataflow, Spark or Flink.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import apache_beam as beam

from pipelines.config import BuildConfig, resolve_output_shards
from pipelines.manifest_stage import WriteManifest
from schemas.tables import DOCUMENTS, DUPLICATES, EXAMPLES, FILTERED, REJECTS, SIGNATURES
from transforms.cleaning.stage import CleanDocuments
from transforms.dead_letters import DEAD_LETTERS, RejectFailed, drop_failed, reject_row
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
    rejects: list = field(default_factory=list)
    base_signatures: list | None = None  # SIGNATURES files of the base version (`longlm build --base`)

    def write(self, label: str, rows, spec, shards: int, subdir: str | None = None, row_group_size: int = 1024):
        self.files.append(rows | label >> WriteTable(spec, self.output, shards, subdir, row_group_size))


def assemble(p: beam.Pipeline, cfg: BuildConfig, files: list[InputFile], output: str, input_patterns: list[str],
             manifest_config: dict | None = None, base_signatures: list[str] | None = None):
    """Add the whole build to pipeline `p`. Returns the manifest PCollection (one element).

    `manifest_config`: the config recorded in the manifest (default: pipelines.fingerprints.manifest_config).
    `base_signatures`: the base version's signatures/ files; new documents are deduped against it."""
    cfg = resolve_output_shards(cfg, input_patterns, [f.path for f in files])  # no-op once the CLI resolved them
    if manifest_config is None:
        from pipelines.fingerprints import manifest_config as fingerprinted

        manifest_config = fingerprinted(cfg)
    out = _Outputs(output.rstrip("/"), cfg, base_signatures=base_signatures)
    o = cfg.output
    ingested = p | "ListInputs" >> beam.Create(files) | "Ingest" >> IngestFiles(cfg.ingest)
    out.stats.append(ingested[STATS])
    out.rejects.append(ingested.rejects)
    docs = _document_stages(ingested.documents, out)
    model = _example_stages(docs, out)
    out.write("WriteRejects", tuple(out.rejects) | "FlattenRejects" >> beam.Flatten(), REJECTS, o.side_table_shards)
    return (
        (tuple(out.files) | "FlattenFiles" >> beam.Flatten(), tuple(out.stats) | "Counters" >> SumStats(), ingested.inputs)
        | "Manifest" >> WriteManifest(output, manifest_config, input_patterns, extra_files=VOCAB_FILES, after=model)
    )


def _document_stages(docs, out: _Outputs):
    """Clean + filter, dedupe, assign splits; write filtered/ and duplicates/. Returns the kept docs."""
    cfg, o = out.cfg, out.cfg.output
    cleaned = docs | "Clean" >> CleanDocuments(cfg.clean, cfg.filter)
    out.stats.append(cleaned[STATS])
    out.rejects.append(cleaned[DEAD_LETTERS] | "CleanFailures" >> beam.Map(lambda d: reject_row(d, d)))
    out.write("WriteFiltered", cleaned.filtered, FILTERED, o.side_table_shards)
    deduped = cleaned.kept | "Dedupe" >> DedupeDocuments(cfg.dedupe, cfg.boilerplate, out.base_signatures)
    out.stats.append(deduped.stats)
    out.write("WriteDuplicates", deduped.duplicates, DUPLICATES, o.side_table_shards)
    out.write("WriteSignatures", deduped.signatures, SIGNATURES, o.side_table_shards)
    return deduped.kept | "Split" >> AssignSplits(cfg.examples.validation_fraction, cfg.seed)


def _example_stages(docs, out: _Outputs):
    """Segment, train (or reuse) the vocabulary, make examples; write documents/ and examples/ (a document
    that fails in segment or examples goes to rejects/ with none of its examples). Returns the model."""
    cfg, o = out.cfg, out.cfg.output
    segmented = docs | "Segment" >> SegmentDocuments(cfg.segment, cfg.examples)
    out.stats.append(segmented[STATS])
    model = segmented.segments | "Vocab" >> TrainVocab(cfg.vocab, cfg.seed, out.output)
    examples = segmented.segments | "Examples" >> MakeExamples(cfg.examples, cfg.seed, model=model)
    out.stats.append(examples[STATS])
    failures = (segmented[DEAD_LETTERS], examples[DEAD_LETTERS]) | "LaterFailures" >> beam.Flatten()
    kept = (docs, failures) | "RejectFailed" >> RejectFailed()
    out.rejects.append(kept.rejects)
    out.write("WriteDocuments", kept.kept, DOCUMENTS, o.documents_shards, row_group_size=o.documents_row_group_size)
    for split in ("train", "validation"):
        rows = drop_failed(getattr(examples, split), failures, f"Drop{split.title()}OfFailed")
        out.write(f"WriteExamples{split.title()}", rows, EXAMPLES, o.examples_shards,
                  subdir=f"examples/{split}", row_group_size=o.examples_row_group_size)
    return model
