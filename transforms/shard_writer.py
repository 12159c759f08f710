"""The one Parquet writer every stage uses: deterministic shards, atomic files.

Contract: the same set of rows gives byte-identical files whatever the runner, worker count or bundle
order. A row's shard is chosen from a blake2b hash of its key (never Python's salted `hash()`), rows
are sorted by (key, canonical JSON of the row) inside a shard, and every one of the N shards is written,
empty or not, so the file list is a function of the config alone. Each file is written under a
temporary name and renamed, so a retried bundle never leaves a partial file under the final name.
"""

from __future__ import annotations

import hashlib
import io
import json
from typing import Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLE_NAME_KEY, TableSpec


def shard_of(key: str, num_shards: int) -> int:
    """Stable shard index of a key string."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % num_shards


def shard_name(index: int, num_shards: int) -> str:
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


def _canonical(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)


def sort_rows(rows: Iterable[dict], key: str) -> list[dict]:
    """Rows ordered by key; rows that share a key are ordered by their canonical JSON (total order)."""
    ordered = sorted(rows, key=lambda r: r[key])
    i = 0
    while i < len(ordered):
        j = i + 1
        while j < len(ordered) and ordered[j][key] == ordered[i][key]:
            j += 1
        if j - i > 1:
            ordered[i:j] = sorted(ordered[i:j], key=_canonical)
        i = j
    return ordered


def table_bytes(rows: list[dict], spec: TableSpec, row_group_size: int) -> bytes:
    """Serialize rows (already ordered) as a zstd Parquet file with the schema version in its metadata."""
    schema = spec.schema.with_metadata({SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: spec.name.encode()})
    table = pa.Table.from_pylist(rows, schema=schema)
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=max(1, row_group_size), write_statistics=True)
    return buf.getvalue()


def write_atomically(path: str, data: bytes) -> None:
    """Write `data` to `path` through Beam FileSystems: temp name, then rename over any earlier attempt."""
    tmp = f"{path}.tmp"
    with FileSystems.create(tmp) as f:
        f.write(data)
    if FileSystems.exists(path):
        FileSystems.delete([path])
    FileSystems.rename([tmp], [path])


class _WriteShard(beam.DoFn):
    def __init__(self, spec: TableSpec, directory: str, num_shards: int, row_group_size: int, output_root: str):
        self._spec, self._dir, self._n = spec, directory, num_shards
        self._row_group_size, self._root = row_group_size, output_root

    def process(self, element):
        index, rows = element
        ordered = sort_rows((r for r in rows if r is not None), self._spec.key)
        data = table_bytes(ordered, self._spec, self._row_group_size)
        path = FileSystems.join(self._dir, shard_name(index, self._n))
        write_atomically(path, data)
        yield {
            "path": path[len(self._root):].lstrip("/"),
            "table": self._spec.name,
            "rows": len(ordered),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
        }


class WriteTable(beam.PTransform):
    """PCollection[row dict] -> N Parquet shards under `output_root/subdir`; emits one file record per shard.

    `subdir` defaults to the table name ("examples/train" for split tables). The file records
    (path relative to `output_root`, table, rows, bytes, sha256) feed the manifest.
    """

    def __init__(self, spec: TableSpec, output_root: str, num_shards: int, subdir: str | None = None,
                 row_group_size: int = 1024):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        self._spec, self._root, self._n = spec, output_root.rstrip("/"), num_shards
        self._dir = FileSystems.join(self._root, subdir or spec.name)
        self._row_group_size = row_group_size

    def expand(self, rows):
        key, n = self._spec.key, self._n
        keyed = rows | "KeyByShard" >> beam.Map(lambda r: (shard_of(r[key], n), r))
        every_shard = rows.pipeline | "AllShards" >> beam.Create([(i, None) for i in range(n)])
        return (
            (keyed, every_shard)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(_WriteShard(self._spec, self._dir, n, self._row_group_size, self._root))
        )
