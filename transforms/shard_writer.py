"""The one Parquet writer every stage uses: deterministic shards, atomic files, bounded memory.

Contract: the same set of rows gives byte-identical files whatever the runner, worker count or bundle
order. A row's shard is chosen from a blake2b hash of its key (never Python's salted `hash()`), rows
are sorted by (key, canonical JSON of the row) inside a shard, and every one of the N shards is written,
empty or not, so the file list is a function of the config alone.

Memory: a shard is never held whole as Python rows. Rows are sorted in bounded runs (spilled to local
scratch when a shard is large, `transforms.external_sort`) and streamed row group by row group into a
`pyarrow.parquet.ParquetWriter` on a `FileSystems.create` handle, hashed as the bytes stream. Files are
written under a unique temporary name per attempt and finalized idempotently (`transforms.atomic_files`).

Shuffle: what goes through the writer's GroupByKey is a (path, offset, length) reference to each
packed batch, not its bytes. The batches are staged as content-named files (one per flush of a
bundle's pending batches) under `<output>/_staging-<table dir>/` and the staging
directory is deleted once every shard of the table is written, so no runner ever materializes a
shard's data as one group (the local runner and Spark do), whatever the shard size.

Counting: each shard writer counts the rows it received and the rows it wrote (Beam counters
`longlm.write/<dir>.rows_received|rows_written`), and `WriteTable` counts the rows it was given per
shard on a separate path; every file record carries that `expected_rows`, so the manifest step can
name any table and shard that came up short.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from typing import Iterable

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

from schemas.hashing import stable_hash
from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY, TABLE_NAME_KEY, TableSpec
from transforms.atomic_files import AtomicFile, write_atomically
from transforms.external_sort import SPILL_BYTES, SortedRows, row_bytes, sort_order

#: Parquet writer settings shared by the streaming writer and `table_bytes` (same settings, same bytes).
PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True}
METRICS_NAMESPACE = "longlm.write"
#: Estimated Python bytes of rows packed into one shuffled batch, per shard and in all (`_PackRows`).
PACK_BYTES = 8 << 20
PACK_BUNDLE_BYTES = 32 << 20
#: Compression of the packed batches' Arrow buffers (zstd: smaller than lz4 on CJK text and token ids, no slower).
PACK_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="zstd")
#: Name prefix of the top-level output entry where a table's packed batches wait for their writers.
STAGING_PREFIX = "_staging-"


def shard_of(key: str, num_shards: int) -> int:
    """Stable shard index of a key string."""
    return stable_hash(key, bits=64) % num_shards


def shard_name(index: int, num_shards: int) -> str:
    return f"part-{index:05d}-of-{num_shards:05d}.parquet"


def sort_rows(rows: Iterable[dict], key: str) -> list[dict]:
    """Rows ordered by key; rows that share a key are ordered by their canonical JSON (total order)."""
    rows = list(rows)
    return [rows[i] for i in sort_order([r[key] for r in rows], rows.__getitem__)]


def table_schema(spec: TableSpec) -> pa.Schema:
    """The table's Arrow schema with the schema version and table name in its metadata."""
    return spec.schema.with_metadata({SCHEMA_VERSION_KEY: SCHEMA_VERSION.encode(), TABLE_NAME_KEY: spec.name.encode()})


def table_bytes(rows: list[dict], spec: TableSpec, row_group_size: int) -> bytes:
    """Serialize rows (already ordered) in one piece: the reference the streaming writer must equal."""
    table = pa.Table.from_pylist(rows, schema=table_schema(spec))
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=max(1, row_group_size), **PARQUET_OPTIONS)
    return buf.getvalue()


def pack_rows(rows: list[dict], schema: pa.Schema) -> bytes:
    """Rows as one compressed Arrow IPC stream (types coerced to `schema`, as the Parquet file will hold them)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, schema, options=PACK_IPC_OPTIONS) as writer:
        writer.write_table(pa.Table.from_pylist(rows, schema=schema))
    return sink.getvalue().to_pybytes()


def unpack_tables(packed: Iterable[bytes | None]) -> Iterable[pa.Table]:
    """The `pack_rows` batches as Arrow tables, one at a time (None entries skipped): never Python rows."""
    for blob in packed:
        if blob is not None:
            yield pa.ipc.open_stream(blob).read_all()


def staging_dir(output_root: str, subdir: str) -> str:
    """Where the packed batches of the table written to `output_root/subdir` are staged."""
    return FileSystems.join(output_root.rstrip("/"), STAGING_PREFIX + subdir.strip("/").replace("/", "-"))


def stage_batches(directory: str, batches: list[tuple[int, bytes]]) -> list[tuple[int, tuple[str, int, int]]]:
    """Write packed `batches` ((shard, blob) pairs) as one file under `directory`, named by its content
    (an attempt run twice writes the same file); returns (shard, (path, offset, length)) per batch.
    One file per flush, not per shard: at hundreds of shards a file per batch would be ~100 KB objects
    by the million on an object store."""
    data = b"".join(blob for _, blob in batches)
    path = FileSystems.join(directory, f"{hashlib.blake2b(data, digest_size=16).hexdigest()}.arrow")
    write_atomically(path, data)
    refs, offset = [], 0
    for shard, blob in batches:
        refs.append((shard, (path, offset, len(blob))))
        offset += len(blob)
    return refs


def read_staged(refs: Iterable[tuple[str, int, int] | None]) -> Iterable[bytes]:
    """The staged batches at `refs` ((path, offset, length); None entries skipped), one at a time."""
    for ref in refs:
        if ref is not None:
            path, offset, length = ref
            with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
                f.seek(offset)
                yield f.read(length)


def drop_staging(records: list[dict], directory: str) -> list[dict]:
    """Delete staging `directory` (its table's shards are all written: `records` are their file
    records, passed through); a retry finds it gone. Files first, then the directory itself where
    the file system has directories (an object store has only the files)."""
    staged = [m.path for m in FileSystems.match([FileSystems.join(directory, "*")])[0].metadata_list]
    for start in range(0, len(staged), 1000):
        FileSystems.delete(staged[start:start + 1000])
    if FileSystems.exists(directory):
        FileSystems.delete([directory])
    return records


class _PackRows(beam.DoFn):
    """row dicts -> (shard, (path, offset, length) of a staged packed batch): the writer's shuffle
    carries these references, and the batches are compact Arrow bytes, never Python rows. A batch
    closes at `PACK_BYTES` per shard (staged alone), all pending batches at `PACK_BUNDLE_BYTES` per
    bundle and at the end of the bundle (staged together in one file). Which rows share a batch
    depends on bundling; the files do not (the writer sorts every shard's rows)."""

    def __init__(self, spec: TableSpec, num_shards: int, staging: str):
        self._spec, self._n, self._staging = spec, num_shards, staging

    def setup(self):
        self._schema = table_schema(self._spec)

    def start_bundle(self):
        self._pending: dict[int, list[dict]] = {}
        self._sizes: dict[int, int] = {}
        self._total = 0

    def _take(self, shards: list[int]) -> list[tuple[int, tuple[str, int, int]]]:
        """Pack the pending rows of `shards` and stage them as one file."""
        batches = []
        for shard in shards:
            self._total -= self._sizes.pop(shard)
            batches.append((shard, pack_rows(self._pending.pop(shard), self._schema)))
        return stage_batches(self._staging, batches)

    def process(self, row):
        shard, size = shard_of(row[self._spec.key], self._n), row_bytes(row)
        self._pending.setdefault(shard, []).append(row)
        self._sizes[shard] = self._sizes.get(shard, 0) + size
        self._total += size
        if self._sizes[shard] >= PACK_BYTES:
            yield from self._take([shard])
        elif self._total >= PACK_BUNDLE_BYTES:
            yield from self._take(sorted(self._pending))

    def finish_bundle(self):
        if self._pending:
            for ref in self._take(sorted(self._pending)):
                yield GlobalWindows.windowed_value(ref)


def write_shard(rows: Iterable[dict | pa.Table | None], spec: TableSpec, path: str, row_group_size: int,
                spill_bytes: int = SPILL_BYTES) -> dict:
    """Sort `rows` (row dicts or Arrow tables of the table's schema; None entries skipped) and stream
    them to Parquet file `path`, atomically.

    Returns {"received", "rows", "bytes", "sha256"}: rows taken in, rows in the file, its size and hash.
    """
    schema, group = table_schema(spec), max(1, row_group_size)
    target = AtomicFile(path)
    written = 0
    with tempfile.TemporaryDirectory(prefix="longlm-sort-") as scratch:
        sorter = SortedRows(schema, spec.key, scratch, spill_bytes)
        sorter.extend(r for r in rows if r is not None)  # rows, or `unpack_tables` of packed batches
        with target as sink:
            writer = pq.ParquetWriter(sink, schema, **PARQUET_OPTIONS)
            try:
                for batch in sorter.batches(group):
                    writer.write_table(batch, row_group_size=group)
                    written += batch.num_rows
                if sorter.count == 0:  # as pq.write_table does for an empty table: one empty row group
                    writer.write_table(schema.empty_table(), row_group_size=group)
            finally:
                writer.close()
    return {"received": sorter.count, "rows": written, "bytes": target.bytes, "sha256": target.sha256}


class _WriteShard(beam.DoFn):
    def __init__(self, spec: TableSpec, directory: str, num_shards: int, row_group_size: int, output_root: str,
                 spill_bytes: int = SPILL_BYTES):
        self._spec, self._dir, self._n = spec, directory, num_shards
        self._row_group_size, self._root, self._spill = row_group_size, output_root, spill_bytes
        label = directory[len(output_root):].strip("/") or spec.name
        self._received = Metrics.counter(METRICS_NAMESPACE, f"{label}.rows_received")
        self._written = Metrics.counter(METRICS_NAMESPACE, f"{label}.rows_written")

    def process(self, element):
        index, staged = element
        path = FileSystems.join(self._dir, shard_name(index, self._n))
        relative = path[len(self._root):].lstrip("/")
        batches = read_staged(sorted(p for p in staged if p is not None))
        info = write_shard(unpack_tables(batches), self._spec, path, self._row_group_size, self._spill)
        self._received.inc(info["received"])
        self._written.inc(info["rows"])
        if info["rows"] != info["received"]:  # a writer bug, not bad data: fail the attempt loudly
            raise RuntimeError(f"{relative}: received {info['received']} rows but wrote {info['rows']}")
        yield index, {"path": relative, "table": self._spec.name, "rows": info["rows"], "bytes": info["bytes"],
                      "sha256": info["sha256"]}


def check_shard(element, table: str, relative_dir: str, num_shards: int):
    """Join one shard's file record with the rows counted for it upstream; yield the record + expected_rows.

    A shard whose file record never arrived yields a record with `missing: True` (no file), so the
    manifest step can still name it.
    """
    index, grouped = element
    expected = sum(grouped["expected"])
    records = list(grouped["written"])
    path = f"{relative_dir}/{shard_name(index, num_shards)}".lstrip("/")
    if not records:
        yield {"path": path, "table": table, "rows": None, "bytes": None, "sha256": None, "missing": True,
               "expected_rows": expected}
        return
    for record in records:
        yield {**record, "expected_rows": expected}


class WriteTable(beam.PTransform):
    """PCollection[row dict] -> N Parquet shards under `output_root/subdir`; emits one file record per shard.

    `subdir` defaults to the table name ("examples/train" for split tables). The file records
    (path relative to `output_root`, table, rows, bytes, sha256, expected_rows) feed the manifest;
    `expected_rows` is counted from the input PCollection on a path independent of the writer's
    GroupByKey. `spill_bytes` bounds the bytes of rows one shard writer holds (see external_sort).
    """

    def __init__(self, spec: TableSpec, output_root: str, num_shards: int, subdir: str | None = None,
                 row_group_size: int = 1024, spill_bytes: int = SPILL_BYTES):
        super().__init__()
        if num_shards < 1:
            raise ValueError("num_shards must be >= 1")
        self._spec, self._root, self._n = spec, output_root.rstrip("/"), num_shards
        self._subdir = (subdir or spec.name).strip("/")
        self._dir = FileSystems.join(self._root, self._subdir)
        self._staging = staging_dir(self._root, self._subdir)
        self._row_group_size, self._spill = row_group_size, spill_bytes

    def expand(self, rows):
        key, n = self._spec.key, self._n
        keyed = rows | "PackByShard" >> beam.ParDo(_PackRows(self._spec, n, self._staging))
        every_shard = rows.pipeline | "AllShards" >> beam.Create([(i, None) for i in range(n)])
        written = (
            (keyed, every_shard)
            | "WithEmptyShards" >> beam.Flatten()
            | "GroupByShard" >> beam.GroupByKey()
            | "WriteShard" >> beam.ParDo(
                _WriteShard(self._spec, self._dir, n, self._row_group_size, self._root, self._spill))
        )
        expected = (
            (rows | "CountByShard" >> beam.Map(lambda r: (shard_of(r[key], n), 1)),
             every_shard | "ZeroPerShard" >> beam.Map(lambda kv: (kv[0], 0)))
            | "FlattenCounts" >> beam.Flatten()
            | "SumPerShard" >> beam.CombinePerKey(sum)
        )
        return (
            {"written": written, "expected": expected}
            | "JoinCounts" >> beam.CoGroupByKey()
            | "CheckCounts" >> beam.FlatMap(check_shard, self._spec.name, self._subdir, n)
            | "AllRecords" >> beam.combiners.ToList()  # one list of N records: the staging waits for all
            | "DropStaging" >> beam.FlatMap(drop_staging, self._staging)
        )
