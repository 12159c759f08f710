"""`longlm reproduce OLD_DIR --input GLOB... --output NEW_DIR`: rebuild a corpus version and prove it is the same.

The contract is :mod:`pipelines.build.reproduce`'s; this module only parses the flags.
"""

from __future__ import annotations

import argparse

from pipelines.build.reproduce import reproduce
from pipelines.build.run import BuildRequest
from pipelines.launch import progress


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="rebuild a corpus version from its manifest and check the result is byte-identical",
        description="Rebuild the corpus version in OLD_DIR with the config and vocabulary setting recorded in "
        "OLD_DIR/manifest.json. First checks that the inputs match the manifest's fingerprints (name, size, "
        "sha256) and stops, building nothing, if any file is missing, extra or changed. Then builds into "
        "NEW_DIR and compares the two manifests byte for byte. Any flag not listed here is a Beam pipeline "
        "option, as for `longlm build`.",
        epilog="Exit codes: 0 the version reproduced byte for byte; 1 inputs differ (nothing built) or the "
        "new manifest differs (differences listed); 2 bad arguments or an unreadable OLD_DIR.",
    )
    p.add_argument("old", metavar="OLD_DIR", help="a built corpus version (local, gs://, s3://, hdfs://)")
    p.add_argument("--input", action="append", metavar="GLOB",
                   help="the inputs, on any Beam file system; repeatable (default: the manifest's input_patterns)")
    p.add_argument("--output", required=True, metavar="NEW_DIR", help="where to rebuild")
    p.add_argument("--base", metavar="BASE_DIR",
                   help="for an incremental version (built with --base): rebuild it on this base, whose id must "
                   "match; without it the whole chain is replayed, each base into NEW_DIR.<version id>")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier build in NEW_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress lines while building")
    p.add_argument("--progress-every", type=progress.interval_seconds, default=progress.DEFAULT_INTERVAL, metavar="SECONDS", help="seconds between progress lines")
    p.set_defaults(func=run, accepts_extra=True)


def run(args) -> int:
    template = BuildRequest(inputs=[], output=args.output, overwrite=args.overwrite, base=args.base, quiet=args.quiet,
                            progress_every=args.progress_every, beam_args=args.extra)
    return reproduce(args.old, args.input, template)
