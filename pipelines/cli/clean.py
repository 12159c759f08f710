"""`longlm clean FILE [--config corpus.toml] [--diff]`: see what the cleaning stage does to one file.

Without --diff it prints the cleaned text. With --diff it prints, rule by rule, a unified diff of
what that rule changed and a header with the rule's hit count and characters removed, then the
filter verdict (the reason the build would filter the document, or "kept").
"""

from __future__ import annotations

import argparse
import difflib
import sys
from typing import TextIO

from transforms.config_base import ConfigError

#: Lines of context around each change in --diff output.
DIFF_CONTEXT = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the `clean` subcommand."""
    p = subparsers.add_parser(
        "clean",
        help="print one file as the cleaning stage leaves it (or, with --diff, what each rule changed)",
        description="Decode FILE as ingest would, run the [clean] rules of the config on it and print the "
        "cleaned text. With --diff, print a unified diff per rule (rule by rule, with hit and removed-character "
        "counts) and the quality-filter verdict instead.",
    )
    p.add_argument("file", metavar="FILE", help="a text file (any path Beam's FileSystems can open)")
    p.add_argument("--config", default=None, help="corpus config TOML (default: built-in defaults)")
    p.add_argument("--diff", action="store_true", help="show what each rule changed, rule by rule, with counts")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit codes: 0 done, 1 the file cannot be read or decoded, 2 bad config."""
    from pipelines.build.config import load_config
    from transforms.cleaning.cleaner import Cleaner
    from transforms.ingest.encoding import DecodeError

    out: TextIO = sys.stdout
    try:
        cfg = load_config(args.config)
        cleaner = Cleaner(cfg.clean)
    except ConfigError as e:
        print(f"longlm clean: {e}", file=sys.stderr)
        return 2
    try:
        text = _read(args.file, cfg)
    except OSError as e:
        print(f"longlm clean: cannot read {args.file}: {e}", file=sys.stderr)
        return 1
    except DecodeError as e:
        print(f"longlm clean: {args.file}: not decodable ({e.reason}): {e.detail}", file=sys.stderr)
        return 1
    if args.diff:
        print_diff(cleaner, text, cfg.filter, out)
    else:
        result = cleaner.clean(text)
        if result.verdict is not None:
            print(f"longlm clean: the cleaner drops this document ({result.verdict.reason})", file=sys.stderr)
        out.write(result.text)
        if result.text and not result.text.endswith("\n"):
            out.write("\n")
    return 0


def _read(path: str, cfg) -> str:
    """Decode `path` the way ingest does (same encoding detection and replacement limit)."""
    from apache_beam.io.filesystems import FileSystems

    from transforms.ingest.encoding import decode_bytes

    with FileSystems.open(path) as f:
        data = f.read()
    return decode_bytes(data, max_replacement_ratio=cfg.ingest.max_replacement_ratio).text


def rule_diff(before: str, after: str, context: int = DIFF_CONTEXT) -> list[str]:
    """Unified diff lines (without the ---/+++ header) between two versions of a text."""
    lines = difflib.unified_diff(before.split("\n"), after.split("\n"), lineterm="", n=context)
    return [line for line in lines if not line.startswith(("---", "+++"))]


def print_diff(cleaner, text: str, filter_cfg, out: TextIO) -> None:
    """Rule by rule: a header with the counts, then the unified diff of what the rule changed."""
    from transforms.cleaning.filters import quality_check

    result = cleaner.clean(text)
    total = 0
    for name, before, after in cleaner.steps(text):
        hits, removed = result.hits.get(name, 0), result.removed.get(name, 0)
        total += removed
        print(f"=== {name}: {hits} hits, {removed} chars removed", file=out)
        if before != after:
            for line in rule_diff(before, after):
                print(line, file=out)
    print(f"=== total: {total} chars removed, {len(text)} -> {len(result.text)} chars", file=out)
    verdict = quality_check(text, result, filter_cfg)
    if verdict is None:
        print("=== filter: kept", file=out)
    else:
        print(f"=== filter: {verdict.reason} (value {verdict.value:.4g}, threshold {verdict.threshold:.4g})", file=out)
