"""Small subcommands: `init-config`, `verify`, `sample-corpus`."""

from __future__ import annotations

import argparse
import sys

from apache_beam.io.filesystems import FileSystems

from pipelines.build.config import render_default_config
from pipelines.build.fingerprints import version_drift
from pipelines.corpus.manifest import read_manifest
from pipelines.corpus.sample import write_sample_corpus
from pipelines.corpus.verify import verify_chain
from transforms.config_base import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("init-config", help="print the full default config (TOML) with a comment per key",
                       description="Print every config key with its default value and a comment. "
                       "Save it (`longlm init-config > corpus.toml`), edit, and pass it to `longlm build --config`.")
    p.set_defaults(func=_init_config)

    p = sub.add_parser("verify", help="re-check a built corpus against its manifest (exit 1 on any mismatch)",
                       description="Re-hash every file listed in DIR/manifest.json, re-count every table's rows, "
                       "re-check the accounting identity read = kept + rejected + filtered + duplicates and the "
                       "version id, and for the head of a chain of versions (`build --base`) the same for every base, which "
                       "must be reachable and unchanged since the head was built. Prints each problem; exits 0 when there is none, 1 otherwise. Also warns (without "
                       "failing) when the installed byte-changing versions (Unicode database, pyarrow, numpy, "
                       "sentencepiece, OpenCC, jieba) differ from those the manifest records.")
    p.add_argument("directory", metavar="DIR", help="build output directory (any Beam FileSystems path)")
    p.set_defaults(func=_verify)

    p = sub.add_parser("sample-corpus", help="write a generated, novel-like Chinese corpus with planted flaws",
                       description="Write a deterministic generated corpus (no downloaded text) with exact and near "
                       "duplicates, junk documents and dirty inputs (GB18030, Big5, UTF-16, BOM, CRLF, empty, "
                       "binary, malformed JSONL, truncated gzip), for demos and tests.")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--docs", type=int, default=60, help="number of base novels (default 60)")
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    p.add_argument("--truth", metavar="PATH", help="also write the planted ground truth as JSON to PATH")
    p.set_defaults(func=_sample_corpus)


def _init_config(args) -> int:
    sys.stdout.write(render_default_config())
    return 0


def _verify(args) -> int:
    try:
        manifest = read_manifest(args.directory)
    except ConfigError as e:  # no build there: say which case, in one line
        print(f"longlm verify: {e}", file=sys.stderr)
        return 1
    report = verify_chain(args.directory)
    for line in version_drift(manifest) if manifest else []:
        print(f"WARNING version drift: {line} (rebuilding here may not give the same bytes)")
    for problem in report.problems:
        print(f"MISMATCH {problem}")
    status = "OK" if report.ok else f"FAILED ({len(report.problems)} problems)"
    print(f"verify {args.directory}: {status}; {report.checked_files} files, {report.checked_rows} rows checked")
    return 0 if report.ok else 1


def _sample_corpus(args) -> int:
    if args.docs < 1:
        print("--docs must be >= 1", file=sys.stderr)
        return 2
    truth = write_sample_corpus(args.directory, args.docs, args.seed)
    files = FileSystems.match([FileSystems.join(args.directory, "*")])[0].metadata_list
    if args.truth:
        from transforms.atomic_files import write_atomically

        write_atomically(args.truth, truth.to_json().encode())
    print(f"wrote a sample corpus of {len(files)} files to {args.directory}")
    return 0
