"""`longlm report DIR [--compare OTHER]`: charts and tables of a built corpus, as HTML and Markdown."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write DIR/report/index.html and summary.md: funnel, distributions, vocab, examples, provenance",
        description="Look at a built corpus instead of reading counters. Reads DIR/manifest.json and the output "
        "shards only (works on a corpus built on Dataflow and copied back, or still on gs://; nothing is rebuilt) "
        "and writes a self-contained DIR/report/index.html (charts embedded), DIR/report/summary.md and the chart "
        "PNGs beside them. Parts of the build that are absent are shown as 'not built'.",
        epilog="Charts need matplotlib: pip install 'longlm-pipeline[report]'. Example tables are sampled by row "
        "group (--max-examples per split); document length columns are read whole.",
    )
    p.add_argument("directory", metavar="DIR", help="build output directory (any Beam FileSystems path)")
    p.add_argument("--compare", metavar="OTHER",
                   help="another build of the corpus (usually the older): show what changed from OTHER to DIR, "
                   "the direction of `longlm diff OTHER DIR`")
    p.add_argument("--output", metavar="OUT", help="write the report here instead of DIR/report")
    p.add_argument("--no-charts", action="store_true", help="tables only (no matplotlib needed)")
    p.add_argument("--skip-verify", action="store_true",
                   help="do not run `longlm verify` (it re-hashes every file, which is slow on large corpora)")
    p.add_argument("--max-examples", type=int, default=20_000, metavar="N",
                   help="example rows read per split for the token statistics (default 20000)")
    p.add_argument("--show", type=int, default=2, metavar="N", help="decoded examples per split and task (default 2)")
    p.set_defaults(func=run)


def run(args) -> int:
    """Write the report; print its paths. Exit 0, 1 when a section failed (the report is still written),
    2 when no report can be made (no manifest, or charts without matplotlib)."""
    from pipelines.corpus.report import Options, ReportError, write_report

    if args.max_examples < 1 or args.show < 0:
        print("--max-examples must be >= 1 and --show >= 0", file=sys.stderr)
        return 2
    options = Options(charts=not args.no_charts, verify=not args.skip_verify,
                      max_examples=args.max_examples, shown=args.show)
    try:
        written = write_report(args.directory, compare=args.compare, output=args.output, options=options)
    except ReportError as e:
        print(f"longlm report: {e}", file=sys.stderr)
        return 2
    for error in written.errors:
        print(f"section failed: {error}", file=sys.stderr)
    print(f"wrote {written.markdown} and {len(written.images)} charts")
    print(f"report: {written.html}")
    return 1 if written.errors else 0
