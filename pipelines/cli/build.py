"""`longlm build`: parse the flags into a BuildRequest and run it (pipelines.build.run).

Flags this command does not define are handed to Beam's PipelineOptions untouched, so `--runner`,
`--direct_num_workers`, `--project`, `--region`, `--temp_location` and friends work as Beam users expect.
"""

from __future__ import annotations

import argparse

from pipelines.build.run import BuildRequest, run_build
from pipelines.launch import progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build a corpus version: ingest, clean, dedupe, vocab, examples -> Parquet + manifest.json",
        description="Build a corpus version from raw novels. Any flag not listed here is a Beam pipeline option "
        "(e.g. --runner DataflowRunner --project P --region R --temp_location gs://B/tmp, or "
        "--direct_num_workers 2). Default runner: the in-process FnApiRunner (bench/README.md).",
        epilog="Outputs: DIR/manifest.json, DIR/run.json, DIR/documents/, DIR/rejects/, DIR/filtered/, "
        "DIR/duplicates/, DIR/vocab/, DIR/examples/{train,validation}/ (and DIR/decontaminated/ with --decontaminate). "
        "Check them with `longlm verify DIR`.",
    )
    p.add_argument("--input", action="append", required=True, metavar="GLOB",
                   help="input files (txt, txt.gz, jsonl, jsonl.gz, parquet) on any Beam file system, as a glob or a "
                   "folder (read recursively); files of other types are skipped and listed; repeatable")
    p.add_argument("--output", required=True, metavar="DIR", help="output directory (local, gs://, s3://, hdfs://)")
    p.add_argument("--config", metavar="TOML", help="corpus config (see `longlm init-config`); default: all defaults")
    p.add_argument("--vocab", metavar="PATH", help="reuse this spiece.model instead of training a vocabulary")
    p.add_argument("--overwrite", action="store_true",
                   help="DIR is not empty: delete every file an earlier build (finished or not) left there first; "
                   "without it a non-empty DIR is refused")
    p.add_argument("--dry-run", action="store_true", help="print the stage graph and resolved options, run nothing")
    p.add_argument("--base", metavar="OLD_DIR",
                   help="build an increment: dedupe --input against itself and the version in OLD_DIR (its signatures/), "
                   "with OLD_DIR's config and vocabulary; records base_version_id (docs/versions.md)")
    p.add_argument("--decontaminate", action="append", default=[], metavar="GLOB",
                   help="evaluation files (.source/.target/.txt one item per line, .json, .jsonl, .parquet) whose "
                   "text must not reach the corpus: matching sentences are removed before segmentation and listed "
                   "in DIR/decontaminated/; repeatable; adds to [decontaminate] files (docs/decontamination.md)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines (by default one line every few seconds: stage, documents, MB, rate)")
    p.add_argument("--progress-every", type=progress.interval_seconds, default=progress.DEFAULT_INTERVAL, metavar="SECONDS",
                   help="seconds between two progress lines (default %(default)s)")
    p.set_defaults(func=run, accepts_extra=True)



def run(args) -> int:
    return run_build(BuildRequest(
        inputs=args.input, output=args.output, config_path=args.config, vocab=args.vocab, overwrite=args.overwrite,
        dry_run=args.dry_run, base=args.base, quiet=args.quiet, progress_every=args.progress_every,
        beam_args=args.extra, decontaminate=args.decontaminate,
    ))
