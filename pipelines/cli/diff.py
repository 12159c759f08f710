"""`longlm diff A B`: compare two corpus versions (the comparison is :mod:`pipelines.corpus.diff`'s)."""

from __future__ import annotations

import argparse
import json
import sys

from pipelines.corpus.diff import compare, render
from transforms.config_base import ConfigError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "diff",
        help="compare two corpus versions: config, inputs, rows per table by key, counters",
        description="Compare corpus versions A and B (directories holding manifest.json, on any Beam file "
        "system): config keys, inputs added/removed/changed, per table the rows added/removed/changed by key, "
        "other files, package versions and counters side by side.",
        epilog="Exit codes: 0 identical, 1 different, 2 a version cannot be read.",
    )
    p.add_argument("a", metavar="A", help="first corpus version directory")
    p.add_argument("b", metavar="B", help="second corpus version directory")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument("--limit", type=int, default=20, metavar="N",
                   help="list at most N keys per table and kind (0: all; counts are always complete)")
    p.add_argument("--all-counters", action="store_true", help="text output: list equal counters too")
    p.set_defaults(func=run)


def run(args) -> int:
    try:
        d = compare(args.a, args.b, limit=max(0, args.limit))
    except (ConfigError, ValueError, OSError) as e:
        print(f"longlm diff: {e}", file=sys.stderr)
        return 2
    print(json.dumps(d, indent=2, ensure_ascii=False, default=str) if args.json else render(d, args.all_counters))
    return 0 if d["identical"] else 1
