"""`longlm decontam-check CORPUS --decontaminate GLOB`: audit a finished corpus against evaluation files."""

from __future__ import annotations

import argparse
import sys

MAX_SHOWN = 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decontam-check",
        help="list the evaluation text (LOT, STORAL, any set) a finished corpus still holds, without rebuilding",
        description="Read CORPUS/documents/ (any version, local or remote, one row group at a time) and report every "
        "stretch a build with --decontaminate GLOB would remove: items matched per evaluation file, characters, "
        "and the documents that hold them. Uses the corpus's recorded [decontaminate] settings (defaults when it "
        "was built without). Nothing is rebuilt or changed (docs/decontamination.md).",
        epilog="Exit codes: 0 no overlap; 1 overlaps found (listed, and written with --output); 2 bad arguments, "
        "an unreadable corpus or evaluation file.",
    )
    p.add_argument("corpus", metavar="CORPUS", help="a built corpus directory (any Beam FileSystems path)")
    p.add_argument("--decontaminate", action="append", required=True, metavar="GLOB",
                   help="evaluation files (.source/.target/.txt, .json, .jsonl, .parquet); repeatable")
    p.add_argument("--output", metavar="FILE.parquet",
                   help="also write every overlap as a row of the decontaminated/ table schema")
    p.set_defaults(func=run)


def run(args) -> int:
    from pipelines.corpus.decontam_check import check_corpus, write_rows
    from transforms.config_base import ConfigError

    try:
        result = check_corpus(args.corpus, args.decontaminate)
        if args.output:
            write_rows(result.rows, args.output)
    except ConfigError as e:
        print(f"longlm decontam-check: {e}", file=sys.stderr)
        return 2
    per_file = result.per_file()
    chars = sum(v[2] for v in per_file.values())
    print(f"{result.documents} documents checked against {result.eval_items} evaluation items: "
          f"{len(result.rows)} stretches, {chars} characters of evaluation text")
    for name, (items, stretches, n) in per_file.items():
        print(f"  {name}: {items} items matched, {stretches} stretches, {n} characters")
    docs = result.per_document()
    for source, stretches, n, filtered in docs[:MAX_SHOWN]:
        print(f"  in {source}: {stretches} stretches, {n} characters" + (" (the whole document)" if filtered else ""))
    if len(docs) > MAX_SHOWN:
        print(f"  ... and {len(docs) - MAX_SHOWN} more documents" + (f" (all in {args.output})" if args.output else ""))
    if args.output:
        print(f"wrote {args.output}")
    return 1 if result.rows else 0
