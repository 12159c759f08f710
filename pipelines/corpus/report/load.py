"""Read what a report needs from a built corpus: the manifest and column-projected, sampled shards.

Everything goes through Beam FileSystems, so a corpus on gs:// (or copied back from Dataflow) reads
the same as a local one. Nothing here recomputes the build: it only reads its outputs. A table whose
directory is absent reads as None ("not built"); a present but unreadable file raises.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from apache_beam.io.filesystems import CompressionTypes, FileSystems

from pipelines.corpus.manifest import read_manifest
from schemas import manifest as mf
from transforms.config_base import ConfigError

#: The splits examples/ is divided into.
SPLITS = ("train", "validation")
#: Where the sentencepiece model lives under the build output.
VOCAB_PATH = "vocab/spiece.model"


class ReportError(Exception):
    """The report cannot be made at all (no manifest, no plotting library); the message says why."""


@dataclass
class Sampled:
    """Some rows of a table: `table` holds `sampled` of its `total` rows (all of them when equal)."""

    table: pa.Table
    total: int

    @property
    def sampled(self) -> int:
        return self.table.num_rows

    @property
    def is_sample(self) -> bool:
        return self.sampled < self.total


def _open(path: str):
    return FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED)


def read_bytes(path: str) -> bytes:
    with _open(path) as f:
        return f.read()


def exists(path: str) -> bool:
    try:
        return FileSystems.exists(path)
    except Exception:  # noqa: BLE001 - an unreachable path is as good as absent for a report
        return False


def pick_row_groups(sizes: list[int], max_rows: int | None) -> list[int]:
    """Indices of row groups to read: all when they hold <= max_rows rows, else evenly spaced ones.

    Deterministic (no RNG): spacing is even over the ordered list, which spans every shard, so a sample
    covers the whole key range. At least one row group is picked when any exists.
    """
    total = sum(sizes)
    if not sizes or max_rows is None or total <= max_rows:
        return list(range(len(sizes)))
    avg = total / len(sizes)
    k = max(1, min(len(sizes), int(np.ceil(max_rows / max(avg, 1.0)))))
    return sorted({int(round(x)) for x in np.linspace(0, len(sizes) - 1, k)})


class Corpus:
    """A built corpus directory, read lazily. `root` is any Beam FileSystems path."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")
        try:
            self.manifest = read_manifest(self.root)
        except ConfigError as e:
            raise ReportError(str(e)) from e

    def path(self, relative: str) -> str:
        return FileSystems.join(self.root, relative)

    @property
    def name(self) -> str:
        return self.root.rsplit("/", 1)[-1] or self.root

    @property
    def version_id(self) -> str:
        return str(self.manifest.get("version_id", "?"))

    @property
    def config(self) -> dict:
        return self.manifest.get("config") or {}

    @property
    def counters(self) -> dict[str, int]:
        return self.manifest.get("counters") or {}

    def table_files(self, subdir: str) -> list[str] | None:
        """Parquet shards under `subdir` ("documents", "examples/train"), or None when there are none.

        The shards present are read (not the manifest's list), so a part of the build that is absent,
        or was not copied back, reads as "not built"; `longlm verify` is what compares the two.
        """
        try:
            found = FileSystems.match([self.path(subdir + "/*.parquet")])[0].metadata_list
        except Exception:  # noqa: BLE001 - no such directory
            return None
        return sorted(m.path for m in found) or None

    def read(self, subdir: str, columns: list[str], max_rows: int | None = None) -> Sampled | None:
        """Read `columns` (those the files have) of a table, sampling row groups beyond `max_rows`."""
        files = self.table_files(subdir)
        if files is None:
            return None
        groups: list[tuple[str, int, int]] = []  # (file, row group, rows)
        schema = None
        for path in files:
            with _open(path) as f:
                meta = pq.ParquetFile(f).metadata
                schema = schema or meta.schema.to_arrow_schema()
                groups += [(path, i, meta.row_group(i).num_rows) for i in range(meta.num_row_groups)]
        total = sum(g[2] for g in groups)
        present = [c for c in columns if schema is not None and c in schema.names]
        parts: list[pa.Table] = []
        chosen = [groups[i] for i in pick_row_groups([g[2] for g in groups], max_rows)]
        for path in sorted({g[0] for g in chosen}, key=files.index):
            wanted = [g[1] for g in chosen if g[0] == path]
            with _open(path) as f:
                parts.append(pq.ParquetFile(f).read_row_groups(wanted, columns=present))
        if not parts:
            fields = [schema.field(c) for c in present] if schema is not None else []
            return Sampled(pa.schema(fields).empty_table(), total)
        return Sampled(pa.concat_tables(parts), total)

    @cached_property
    def vocab_model(self) -> bytes | None:
        """Bytes of vocab/spiece.model, or None when the vocabulary was not built."""
        path = self.path(VOCAB_PATH)
        return read_bytes(path) if exists(path) else None

    @cached_property
    def run_info(self) -> dict | None:
        path = self.path(mf.RUN_INFO_NAME)
        try:
            return json.loads(read_bytes(path)) if exists(path) else None
        except ValueError:
            return None


def column(sampled: Sampled | None, name: str) -> np.ndarray | None:
    """A numeric column as a float array with nulls dropped; None when absent or entirely null."""
    if sampled is None or name not in sampled.table.column_names:
        return None
    col = sampled.table.column(name)
    if col.null_count == len(col):
        return None
    return col.drop_null().to_numpy().astype(np.float64)
