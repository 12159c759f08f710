"""The corpus build as data: :data:`STAGES` lists the stages and the tables each writes; :func:`assemble` walks it.

Every stage is a PTransform from `transforms/` returning a :class:`transforms.result.StageResult`, so the
same graph runs on the FnApiRunner, the DirectRunner, Dataflow, Spark or Flink. The manifest gets every
stage's counters and files and every table's file records by construction; the rules (claimed side
outputs, dead letters) are :mod:`pipelines.build.assembler`'s.
"""

from __future__ import annotations

import apache_beam as beam

from pipelines.build.assembler import MANIFEST_INPUTS, Context, Stage, Table, check_claimed, run_stages, write_tables
from pipelines.build.config import BuildConfig, resolve_output_shards
from pipelines.build.manifest_step import WriteManifest
from schemas.tables import DECONTAMINATED, DOCUMENTS, DUPLICATES, EXAMPLES, FILTERED, REJECTS, SIGNATURES, SUPERSEDED
from transforms.cleaning.stage import CleanDocuments
from transforms.decontam.stage import DecontaminateDocuments
from transforms.dedupe.stage import DedupeDocuments
from transforms.examples.transform import MakeExamples
from transforms.ingest.parse import InputFile
from transforms.ingest.stage import IngestFiles
from transforms.result import MAIN
from transforms.segment import SegmentDocuments
from transforms.splits import AssignSplits
from transforms.stats import SumStats
from transforms.vocab import TrainVocab

__all__ = ["DECONTAMINATE", "STAGES", "Stage", "Table", "assemble", "stages_for"]

_DOCS = ("documents_shards", "documents_row_group_size")
_EXAMPLES = ("examples_shards", "examples_row_group_size")

#: The build. Each stage's result must carry every counter it keeps; its side outputs must all be claimed.
STAGES = (
    Stage("Ingest", lambda x: IngestFiles(x.cfg.ingest), tables=(Table(REJECTS, "rejects"),)),
    Stage("Clean", lambda x: CleanDocuments(x.cfg.clean, x.cfg.filter), tables=(Table(FILTERED, "filtered"),)),
    Stage("Dedupe", lambda x: DedupeDocuments(x.cfg.dedupe, x.cfg.boilerplate, x.base),
          tables=(Table(DUPLICATES, "duplicates"), Table(SIGNATURES, "signatures"), Table(SUPERSEDED, "superseded"))),
    Stage("Split", lambda x: AssignSplits(x.cfg.examples.validation_fraction, x.cfg.seed),
          tables=(Table(DOCUMENTS, MAIN, *_DOCS),)),
    Stage("Segment", lambda x: SegmentDocuments(x.cfg.segment, x.cfg.examples)),
    Stage("Vocab", lambda x: TrainVocab(x.cfg.vocab, x.cfg.seed, x.output), input="Segment"),
    Stage("Examples", lambda x: MakeExamples(x.cfg.examples, x.cfg.seed, model=x.results["Vocab"]), input="Segment",
          tables=(Table(EXAMPLES, MAIN, *_EXAMPLES, subdir="examples/train"),
                  Table(EXAMPLES, "validation", *_EXAMPLES, subdir="examples/validation"))),
)


#: With an evaluation set (`--decontaminate`): after dedupe, before the documents are written and segmented, so
#: documents/ and every example hold decontaminated text only. Left out of the graph without one.
DECONTAMINATE = Stage("Decontaminate", lambda x: DecontaminateDocuments(x.cfg.decontaminate, x.eval_files),
                      tables=(Table(DECONTAMINATED, "decontaminated"), Table(FILTERED, "filtered")))


def stages_for(cfg: BuildConfig) -> tuple[Stage, ...]:
    """:data:`STAGES`, with :data:`DECONTAMINATE` right after Dedupe when `cfg` has evaluation files."""
    if not cfg.decontaminate.enabled:
        return STAGES
    at = next(i for i, s in enumerate(STAGES) if s.name == "Dedupe") + 1
    return STAGES[:at] + (DECONTAMINATE,) + STAGES[at:]


def assemble(p: beam.Pipeline, cfg: BuildConfig, files: list[InputFile], output: str, input_patterns: list[str],
             manifest_config: dict | None = None, base=None, chain: dict | None = None, stages=None,
             skipped_inputs: list[str] = (), eval_files: list[InputFile] | None = None):
    """Add the whole build to pipeline `p`. Returns the manifest PCollection (one element).

    `manifest_config`: the config recorded in the manifest (default: pipelines.build.fingerprints.manifest_config).
    `base` (transforms.dedupe.increment.BaseVersion): the base chain new documents are deduped against;
    `chain`: the manifest's chain record of its bases (pipelines.build.increment.resolve_base).
    `skipped_inputs`: sources matched but not of a supported type, recorded in the manifest.
    `stages`: default :func:`stages_for` `cfg`. `eval_files`: the evaluation files (default: listed from `cfg`)."""
    cfg = resolve_output_shards(cfg, input_patterns, [f.path for f in files])  # no-op once the CLI resolved them
    if manifest_config is None:
        from pipelines.build.fingerprints import manifest_config as fingerprinted

        manifest_config = fingerprinted(cfg)
    if stages is None:
        stages = stages_for(cfg)
    if eval_files is None and cfg.decontaminate.enabled:
        from pipelines.build.decontam import eval_files as listed

        eval_files = listed(cfg)
    ctx = Context(cfg, output.rstrip("/"), base, eval_files=list(eval_files or []))
    run_stages(p | "ListInputs" >> beam.Create(files), stages, ctx)
    results = ctx.results
    check_claimed(stages, results)
    records = write_tables(stages, ctx) + [r.files for r in results.values() if r.files is not None]
    stats = tuple(r.stats for r in results.values() if r.stats is not None)
    stage, side = MANIFEST_INPUTS
    return (
        (tuple(records) | "FlattenFiles" >> beam.Flatten(), stats | "Counters" >> SumStats(),
         results[stage].output(side))
        | "Manifest" >> WriteManifest(output, manifest_config, input_patterns, skipped_inputs, chain)
    )
