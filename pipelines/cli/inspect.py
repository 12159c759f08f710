"""`longlm inspect DIR [--n 5]`: decode a few examples of each task back to text, sentinels visible.

Reads DIR/vocab/spiece.model and DIR/examples/{train,validation}/*.parquet through Beam FileSystems
(so DIR may be gs://...). Shards are read in name order and rows in file order, so the output is the
same every time. Sentinels print as <extra_id_i>, EOS as </s>.
"""

from __future__ import annotations

import argparse
import sys

SPLITS = ("train", "validation")
TASKS = ("infilling", "continuation")


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="decode a few examples of each task from a built corpus (sentinels visible)",
        description="Decode the first N examples of each task in DIR/examples/{train,validation} with "
        "DIR/vocab/spiece.model, showing sentinel tokens as <extra_id_i> and EOS as </s>.",
    )
    parser.add_argument("dir", metavar="DIR", help="build output directory (local or any Beam filesystem)")
    parser.add_argument("--n", type=int, default=5, help="examples per task and split (default 5)")
    parser.add_argument("--split", choices=("all",) + SPLITS, default="all", help="which split(s) to show")
    parser.add_argument("--extra-ids", type=int, default=100, help="number of sentinel ids (T5: 100)")
    parser.set_defaults(func=run)


def _read_bytes(path: str) -> bytes:
    from apache_beam.io.filesystems import FileSystems

    with FileSystems.open(path) as f:
        return f.read()


def _shards(directory: str) -> list[str]:
    from apache_beam.io.filesystems import FileSystems

    pattern = FileSystems.join(directory, "*.parquet")
    matches = FileSystems.match([pattern])[0].metadata_list
    return sorted(m.path for m in matches)


def first_examples(directory: str, n: int) -> dict[str, list[dict]]:
    """The first `n` rows of each task in the shards of `directory` (shard name order, row order).

    Reads row group by row group and stops as soon as every task has `n` rows, so a large corpus is
    not downloaded whole.
    """
    import pyarrow.parquet as pq
    from apache_beam.io.filesystems import CompressionTypes, FileSystems

    found: dict[str, list[dict]] = {}
    for path in _shards(directory):
        with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            parquet = pq.ParquetFile(f)
            for group in range(parquet.num_row_groups):
                for row in parquet.read_row_group(group).to_pylist():
                    rows = found.setdefault(row["task"], [])
                    if len(rows) < n:
                        rows.append(row)
                if len(found) >= len(TASKS) and all(len(v) >= n for v in found.values()):
                    return found
    return found


def format_example(row: dict, tok) -> str:
    """A readable block: id, task, lengths, decoded input and target."""
    return (
        f"--- {row['example_id']}  task={row['task']}  input={len(row['input_ids'])} ids  "
        f"target={len(row['target_ids'])} ids\n"
        f"input : {tok.decode(row['input_ids'])}\n"
        f"target: {tok.decode(row['target_ids'])}\n"
    )


def _chain_lines(root: str) -> list[str]:
    """The chain's versions and accounting when ROOT heads a chain (examples below are ROOT's own)."""
    from pipelines.corpus.chain import summary_lines
    from pipelines.corpus.manifest import read_chain
    from transforms.config_base import ConfigError

    try:
        lines = summary_lines(read_chain(root))
    except ConfigError as e:
        return [f"chain: {e}"]
    return lines + ["(examples below are this version's own; `longlm files` lists the chain's)"] if lines else []


def run(args: argparse.Namespace) -> int:
    from apache_beam.io.filesystems import FileSystems

    from pipelines.corpus.manifest import no_build, read_manifest
    from transforms.examples.tokenize import SpmTokenizer

    root = args.dir.rstrip("/")
    model_path = FileSystems.join(root, "vocab", "spiece.model")
    if not FileSystems.exists(model_path):
        missing = read_manifest(root, missing_ok=True) is None
        print(f"longlm inspect: {no_build(root) if missing else f'no vocabulary at {model_path}'}", file=sys.stderr)
        return 1
    tok = SpmTokenizer(_read_bytes(model_path), args.extra_ids)
    for line in _chain_lines(root):
        print(line)
    shown = 0
    for split in SPLITS if args.split == "all" else (args.split,):
        directory = FileSystems.join(root, "examples", split)
        by_task = first_examples(directory, args.n)
        print(f"=== {split}: {', '.join(f'{t} ({len(r)})' for t, r in sorted(by_task.items())) or 'no examples'}")
        for task in sorted(by_task):
            for row in by_task[task]:
                print(format_example(row, tok))
                shown += 1
    if not shown:
        print(f"inspect: no examples under {root}/examples", file=sys.stderr)
        return 1
    return 0
