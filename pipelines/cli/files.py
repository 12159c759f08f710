"""`longlm files DIR [--split train | --table NAME]`: the files of a version's whole chain, one per line."""

from __future__ import annotations

import argparse
import sys

from pipelines.corpus.chain import effective_files
from schemas.tables import EXAMPLES, TABLES
from transforms.config_base import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("files", help="list a version's table files across its chain (for DuckDB, HF datasets)",
                       description="Print, one per line, the files of a table in every version of DIR's chain "
                       "(DIR itself when it is a full build), oldest first: the examples of --split by default. "
                       "The chain's effective corpus leaves out the rows whose doc_id is in a superseded/ file "
                       "(`--table superseded` lists those); docs/incremental.md has DuckDB and datasets examples.")
    p.add_argument("directory", metavar="DIR", help="version (head of a chain) directory, any Beam FileSystems path")
    p.add_argument("--split", choices=("train", "validation"), default="train", help="examples split (default train)")
    p.add_argument("--table", choices=sorted(TABLES), default=EXAMPLES.name, help="table (default examples)")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        found = effective_files(args.directory, args.table, args.split)
    except ConfigError as e:
        print(f"longlm files: {e}", file=sys.stderr)
        return 2
    for path in found["files"]:
        print(path)
    return 0
