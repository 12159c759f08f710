"""Sort a shard's rows in bounded memory: sorted Arrow runs spilled to local scratch, merged lazily.

Order: by the table's key; rows sharing a key by the canonical JSON of the row *as Arrow stores it*
(so an int written to a float column orders the same in memory and after a spill). Rows arrive as
Arrow tables (the writer's packed batches) or as Python dicts; they are held as Arrow data up to
`spill_bytes` (Arrow bytes of the tables plus an estimate of the dicts' in-memory size). Beyond that
the buffer is sorted and written to an Arrow IPC file under a local temporary directory (worker
scratch disk, never an input or output path) in record batches of ~1 MB, and the runs are merged with
a heap that holds one batch per run. Sorting never turns whole rows into Python objects: only the key
column is, and whole rows only where keys tie. Whether a shard spills can depend on how its rows were
batched (Arrow bytes count per table), never what it writes: the merged order equals the in-memory order.
"""

from __future__ import annotations

import heapq
import json
import os
from typing import Iterable, Iterator

import pyarrow as pa

#: Default bytes of rows a writer holds before it spills a sorted run.
SPILL_BYTES = 16 << 20
#: Target bytes of one record batch in a spilled run (the merge holds one batch per run).
RUN_BATCH_BYTES = 1 << 20
#: Most runs merged at once; more runs are first merged into larger runs, FAN_IN at a time.
FAN_IN = 64


def canonical(row: dict) -> str:
    return json.dumps(row, sort_keys=True, ensure_ascii=False, default=str)


def row_bytes(row: dict) -> int:
    """A cheap estimate of a row dict's in-memory size while it is sorted and converted.

    CPython holds a CJK character in 2 bytes and, once Arrow has converted the string, caches its
    3-byte UTF-8 form inside the str object too: 5 per character; a list int takes ~36 bytes.
    """
    size = 100 + 8 * len(row)
    for v in row.values():
        if isinstance(v, str):
            size += 50 + 5 * len(v)
        elif isinstance(v, (list, tuple)):
            size += 56 + 36 * len(v)
        else:
            size += 32
    return size


def sort_order(keys: list, row_at) -> list[int]:
    """Indices ordering rows by key, rows that tie on the key by the canonical JSON of `row_at(i)`."""
    order = sorted(range(len(keys)), key=keys.__getitem__)
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and keys[order[j]] == keys[order[i]]:
            j += 1
        if j - i > 1:  # ties: compare whole rows as stored
            order[i:j] = sorted(order[i:j], key=lambda k: canonical(row_at(k)))
        i = j
    return order


def sort_table(table: pa.Table, key: str) -> pa.Table:
    """`table` ordered by (key, canonical JSON of the row), as one contiguous chunk per column.

    Only the key column becomes Python objects (and the rows whose keys tie)."""
    order = sort_order(table.column(key).to_pylist(), lambda k: table.slice(k, 1).to_pylist()[0])
    return table.take(pa.array(order, type=pa.int64())).combine_chunks()


def _spill(table: pa.Table, path: str) -> str:
    per_batch = max(1, int(table.num_rows * RUN_BATCH_BYTES / max(1, table.nbytes)))
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=per_batch):
            writer.write_batch(batch)
    return path


class _Cursor:
    """A position in a run: its current record batch, the batch's keys, and the row index in it."""

    __slots__ = ("batches", "batch", "keys", "at", "key")

    def __init__(self, batches: Iterator[pa.RecordBatch], key: str):
        self.batches, self.batch, self.keys, self.at, self.key = batches, None, [], -1, key

    def advance(self) -> bool:
        """Step to the next row; False when the run is done."""
        self.at += 1
        while self.at >= len(self.keys):
            self.batch = next(self.batches, None)
            if self.batch is None:
                return False
            self.keys, self.at = self.batch.column(self.key).to_pylist(), 0
        return True

    def row(self) -> dict:
        return self.batch.slice(self.at, 1).to_pylist()[0]

    def __lt__(self, other: "_Cursor") -> bool:  # heap order: key, then the whole row on a tie
        a, b = self.keys[self.at], other.keys[other.at]
        if a != b:
            return a < b
        return canonical(self.row()) < canonical(other.row())


def _read_batches(path: str) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(path, "rb") as source:  # read batch by batch; a memory map would count whole runs in RSS
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def _gather(pieces: list[list], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches([batch.slice(start, n) for batch, start, n in pieces], schema=schema).combine_chunks()


def _merge(paths: list[str], key: str, schema: pa.Schema, rows_per_table: int) -> Iterator[pa.Table]:
    """The rows of the sorted runs `paths`, merged, as contiguous tables of `rows_per_table` rows (the
    last one shorter). The heap holds one cursor per run; only keys become Python objects, and the
    output is gathered as slices of the runs' batches."""
    heap = []
    for path in paths:
        cursor = _Cursor(_read_batches(path), key)
        if cursor.advance():
            heap.append(cursor)
    heapq.heapify(heap)
    pieces: list[list] = []  # [batch, start, length]: consecutive rows of one batch
    count = 0
    while heap:
        cursor = heap[0]
        batch, at = cursor.batch, cursor.at
        last = pieces[-1] if pieces else None
        if last is not None and last[0] is batch and last[1] + last[2] == at:
            last[2] += 1
        else:
            pieces.append([batch, at, 1])
        count += 1
        if cursor.advance():
            heapq.heapreplace(heap, cursor)
        else:
            heapq.heappop(heap)
        if count == rows_per_table:
            yield _gather(pieces, schema)
            pieces, count = [], 0
    if pieces:
        yield _gather(pieces, schema)


class SortedRows:
    """Feed rows with `add` (a dict) or `add_table` (an Arrow table of the schema), then iterate
    `batches(n)` for the sorted rows, n at a time, as contiguous Arrow tables.

    Spilled runs are files in `scratch_dir`, which the caller creates per shard and removes after
    (`shard_writer.write_shard` uses a `tempfile.TemporaryDirectory`).
    """

    def __init__(self, schema: pa.Schema, key: str, scratch_dir: str, spill_bytes: int = SPILL_BYTES):
        self._schema, self._key, self._dir, self._limit = schema, key, scratch_dir, max(1, spill_bytes)
        self._tables: list[pa.Table] = []
        self._rows: list[dict] = []
        self._estimate = 0
        self.runs: list[str] = []
        self.count = 0
        self._files = 0

    def add(self, row: dict) -> None:
        self._rows.append(row)
        self.count += 1
        self._estimate += row_bytes(row)
        if self._estimate >= self._limit:
            self._flush()

    def add_table(self, table: pa.Table) -> None:
        if not table.num_rows:
            return
        self._tables.append(table)
        self.count += table.num_rows
        self._estimate += table.nbytes
        if self._estimate >= self._limit:
            self._flush()

    def extend(self, items: Iterable) -> None:
        """Add each item: a row dict or an Arrow table."""
        for item in items:
            if isinstance(item, pa.Table):
                self.add_table(item)
            else:
                self.add(item)

    def _next_path(self) -> str:
        self._files += 1
        return os.path.join(self._dir, f"run-{self._files:06d}.arrow")

    def _take_buffer(self) -> pa.Table | None:
        """Everything held, as one sorted table (None when nothing is); the buffer is emptied first."""
        tables = self._tables
        if self._rows:
            tables.append(pa.Table.from_pylist(self._rows, schema=self._schema))
        self._tables, self._rows, self._estimate = [], [], 0
        return sort_table(pa.concat_tables(tables), self._key) if tables else None

    def _flush(self) -> None:
        table = self._take_buffer()
        if table is not None:
            self.runs.append(_spill(table, self._next_path()))

    def _spill_merged(self, paths: list[str]) -> str:
        path = self._next_path()
        with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, self._schema) as writer:
            for table in _merge(paths, self._key, self._schema, 1024):
                writer.write_table(table)
        return path

    def batches(self, rows_per_batch: int) -> Iterator[pa.Table]:
        """The sorted rows as tables of `rows_per_batch` rows (the last one shorter); none when empty."""
        rows_per_batch = max(1, rows_per_batch)
        if not self.runs:  # everything fit: sort in memory
            table = self._take_buffer()
            if table is None:
                return
            for start in range(0, table.num_rows, rows_per_batch):
                yield table.slice(start, rows_per_batch)
            return
        self._flush()
        while len(self.runs) > FAN_IN:  # cascade: merge the oldest FAN_IN runs into one
            path = self._spill_merged(self.runs[:FAN_IN])
            for done in self.runs[:FAN_IN]:
                os.remove(done)
            self.runs = self.runs[FAN_IN:] + [path]
        yield from _merge(self.runs, self._key, self._schema, rows_per_batch)
