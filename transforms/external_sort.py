"""Sort a shard's rows in bounded memory: sorted Arrow runs spilled to local scratch, merged lazily.

Order: by the table's key; rows sharing a key by the canonical JSON of the row *as Arrow stores it*
(so an int written to a float column orders the same in memory and after a spill). Rows are held as
Python objects only up to `spill_bytes` (an estimate of their in-memory size); beyond that each
buffer is sorted, converted to Arrow and written to an Arrow IPC file under a local temporary
directory (worker scratch disk, never an input or output path) in record batches of ~1 MB, and the
runs are merged with a heap that holds one batch per run. Whether a shard spills depends only on the
sum of its rows' estimates, not on their order, and the merged order equals the in-memory order.
"""

from __future__ import annotations

import heapq
import json
import os
from typing import Iterable, Iterator

import pyarrow as pa

#: Default estimated in-memory bytes of Python rows a writer holds before it spills a sorted run.
SPILL_BYTES = 64 << 20
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


def _stored(row: dict, schema: pa.Schema) -> dict:
    """The row as Arrow stores it (types coerced to the schema, missing columns None, extra keys dropped)."""
    return pa.Table.from_pylist([row], schema=schema).to_pylist()[0]


def sorted_table(rows: list[dict], schema: pa.Schema, key: str) -> pa.Table:
    """The rows as an Arrow table of `schema`, ordered by (key, canonical JSON of the stored row).

    Orders Python rows first (only rows that tie on the key are converted one by one to compare
    them), then converts once: one Arrow copy of the rows, no `take`.
    """
    order = sorted(range(len(rows)), key=lambda i: rows[i][key])
    i = 0
    while i < len(order):
        j = i + 1
        while j < len(order) and rows[order[j]][key] == rows[order[i]][key]:
            j += 1
        if j - i > 1:  # ties: compare whole rows as stored
            order[i:j] = sorted(order[i:j], key=lambda k: canonical(_stored(rows[k], schema)))
        i = j
    return pa.Table.from_pylist([rows[k] for k in order], schema=schema)


class _Order:
    """Heap key: compares table keys, and whole rows only on a tie."""

    __slots__ = ("row", "key")

    def __init__(self, row: dict, key: str):
        self.row, self.key = row, row[key]

    def __lt__(self, other: "_Order") -> bool:
        if self.key != other.key:
            return self.key < other.key
        return canonical(self.row) < canonical(other.row)


def _spill(table: pa.Table, path: str) -> str:
    per_batch = max(1, int(table.num_rows * RUN_BATCH_BYTES / max(1, table.nbytes)))
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=per_batch):
            writer.write_batch(batch)
    return path


def _spill_rows(rows: Iterable[dict], schema: pa.Schema, path: str) -> str:
    """Write already-ordered rows as a run, in batches of ~RUN_BATCH_BYTES (estimated)."""
    with pa.OSFile(path, "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        batch: list[dict] = []
        size = 0
        for row in rows:
            batch.append(row)
            size += row_bytes(row)
            if size >= RUN_BATCH_BYTES:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                batch, size = [], 0
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
    return path


def _merge(paths: list[str], key: str) -> Iterator[dict]:
    return heapq.merge(*(_read_run(p) for p in paths), key=lambda r: _Order(r, key))


def _read_run(path: str) -> Iterator[dict]:
    with pa.OSFile(path, "rb") as source:  # read batch by batch; a memory map would count whole runs in RSS
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield from reader.get_batch(i).to_pylist()


class SortedRows:
    """Feed rows with `add`, then iterate `batches(n)` for the sorted rows, n at a time, as Arrow tables.

    Spilled runs are files in `scratch_dir`, which the caller creates per shard and removes after
    (`shard_writer.write_shard` uses a `tempfile.TemporaryDirectory`).
    """

    def __init__(self, schema: pa.Schema, key: str, scratch_dir: str, spill_bytes: int = SPILL_BYTES):
        self._schema, self._key, self._dir, self._limit = schema, key, scratch_dir, max(1, spill_bytes)
        self._buffer: list[dict] = []
        self._estimate = 0
        self.runs: list[str] = []
        self.count = 0
        self._files = 0

    def add(self, row: dict) -> None:
        self._buffer.append(row)
        self.count += 1
        self._estimate += row_bytes(row)
        if self._estimate >= self._limit:
            self._flush()

    def extend(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.add(row)

    def _next_path(self) -> str:
        self._files += 1
        return os.path.join(self._dir, f"run-{self._files:06d}.arrow")

    def _flush(self) -> None:
        if self._buffer:
            table = sorted_table(self._buffer, self._schema, self._key)
            self._buffer, self._estimate = [], 0  # the Python rows go before the run is written
            self.runs.append(_spill(table, self._next_path()))
        self._buffer, self._estimate = [], 0

    def batches(self, rows_per_batch: int) -> Iterator[pa.Table]:
        """The sorted rows as tables of `rows_per_batch` rows (the last one shorter); none when empty."""
        rows_per_batch = max(1, rows_per_batch)
        if not self.runs:  # everything fit: sort in memory
            table = sorted_table(self._buffer, self._schema, self._key)
            self._buffer = []
            for start in range(0, table.num_rows, rows_per_batch):
                yield table.slice(start, rows_per_batch)
            return
        self._flush()
        while len(self.runs) > FAN_IN:  # cascade: merge the oldest FAN_IN runs into one
            path = _spill_rows(_merge(self.runs[:FAN_IN], self._key), self._schema, self._next_path())
            for done in self.runs[:FAN_IN]:
                os.remove(done)
            self.runs = self.runs[FAN_IN:] + [path]
        group: list[dict] = []
        for row in _merge(self.runs, self._key):
            group.append(row)
            if len(group) == rows_per_batch:
                yield pa.Table.from_pylist(group, schema=self._schema)
                group = []
        if group:
            yield pa.Table.from_pylist(group, schema=self._schema)
