"""Streams the EXAMPLES Parquet shards the corpus manifest lists for a split as padded training batches.

Work is split in *units*: a Parquet row group, or a row range of one when there are fewer row groups
than readers. Every epoch the units are permuted from (seed, epoch) and dealt round-robin to the
world_size x num_workers readers ("shards"), so within an epoch each example is read by exactly one
reader. A reader shuffles its rows with a bounded buffer, groups them by (input, target) length bucket,
and pads each batch only to its own longest row, or with `packing` fills fixed-size rows with several
examples each (train.packing). Everything is a pure function of (seed, epoch, shard),
so a reader's position is just (epoch, batches already taken), and resuming replays nothing but I/O.

Batches are dicts of tensors: input_ids, attention_mask, decoder_input_ids (targets shifted right,
starting with the decoder start id), labels (-100 on padding), label_positions (flat indices of the
labelled positions), input_positions / target_positions (flat indices of the real input / target
tokens, so the model skips padding), plus ints shard/epoch/index/examples. Packed batches carry
input/target segment ids and offsets instead of the flat indices.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Iterator

import numpy as np
import pyarrow.parquet as pq
import torch
from torch.utils.data import IterableDataset, get_worker_info

from schemas.hashing import stable_hash
from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from train.corpus import is_url, open_corpus
from train.packing import collate_packed, pack_batches

_COLUMNS = ["input_ids", "target_ids"]


def split_files(data_dir: str, split: str) -> list[str]:
    """Paths of the examples shards of `split` that DIR/manifest.json lists (never a glob; see train.corpus)."""
    return open_corpus(data_dir).split_files(split)


def open_parquet(path: str) -> pq.ParquetFile:
    """A ParquetFile for a local path or (when fsspec is installed) a URL."""
    if is_url(path):
        import fsspec

        return pq.ParquetFile(fsspec.open(path, "rb").open())
    return pq.ParquetFile(path)


def _check_schema(pf: pq.ParquetFile, path: str) -> None:
    metadata = pf.schema_arrow.metadata or {}
    version = metadata.get(SCHEMA_VERSION_KEY)
    if version is not None and version.decode() != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema version {version.decode()} is not {SCHEMA_VERSION}; rebuild the corpus")
    missing = [c for c in _COLUMNS if c not in pf.schema_arrow.names]
    if missing:
        raise ValueError(f"{path}: not an examples table (missing columns {missing})")


@dataclass(frozen=True)
class Unit:
    """Rows [start, stop) of row group `row_group` of file number `file`."""

    file: int
    row_group: int
    start: int
    stop: int


def plan_units(files: list[str], min_units: int = 1) -> list[Unit]:
    """Every non-empty row group of `files` as a unit, each cut into row ranges when there are fewer
    than `min_units` row groups (so every reader gets work). Checks the schema version of each file."""
    groups: list[tuple[int, int, int]] = []
    for index, path in enumerate(files):
        pf = open_parquet(path)
        _check_schema(pf, path)
        for rg in range(pf.metadata.num_row_groups):
            rows = pf.metadata.row_group(rg).num_rows
            if rows:
                groups.append((index, rg, rows))
    pieces = -(-min_units // len(groups)) if groups else 1
    units = []
    for index, rg, rows in groups:
        cuts = np.linspace(0, rows, min(pieces, rows) + 1).astype(int)
        units.extend(Unit(index, rg, int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:]) if b > a)
    return units


def balanced_assignment(units: list[Unit], order, readers: int) -> list[list[int]]:
    """Unit indices per reader: `order` dealt greedily to the reader with the fewest rows so far."""
    import heapq

    heap = [(0, reader) for reader in range(readers)]
    out: list[list[int]] = [[] for _ in range(readers)]
    for i in order:
        rows, reader = heapq.heappop(heap)
        out[reader].append(int(i))
        unit = units[int(i)]
        heapq.heappush(heap, (rows + unit.stop - unit.start, reader))
    return out


def derive_seed(*parts) -> int:
    """A 64-bit seed from the parts' text (stable across processes and runs)."""
    return stable_hash(*parts, bits=64, sep="/", byteorder="little")


def rng_for(*parts) -> np.random.Generator:
    """numpy Generator seeded from `parts` via `derive_seed`."""
    return np.random.Generator(np.random.PCG64(derive_seed(*parts)))


@dataclass(frozen=True)
class StreamConfig:
    """How examples become batches. `batch_size` counts examples per reader batch."""

    batch_size: int = 16
    seed: int = 0
    shuffle: bool = True
    shuffle_buffer: int = 2048
    max_input_len: int = 512
    max_target_len: int = 512
    pad_to_multiple: int = 8
    bucket_boundaries: tuple = (16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
    pad_id: int = 0
    eos_id: int = 1
    decoder_start_id: int = 0
    vocab_size: int | None = None
    #: several examples per row (train.packing): batch_size rows of packed_input_len / packed_target_len
    #: slots (default: the max lengths; longer rows fill better when examples are long)
    packing: bool = False
    packed_input_len: int | None = None
    packed_target_len: int | None = None

    def packed_lengths(self) -> tuple[int, int]:
        """(input, target) slots of a packed row."""
        return self.packed_input_len or self.max_input_len, self.packed_target_len or self.max_target_len


@dataclass
class DataPosition:
    """Where one rank's stream stands: batches and examples consumed, and per shard (epoch, next batch
    index); a packed batch holds a varying number of examples, which `examples` counts."""

    consumed: int = 0
    shards: dict = field(default_factory=dict)
    examples: int = 0

    def advance(self, batch: dict) -> None:
        """Record that `batch` (as yielded by ExampleStream) was consumed."""
        self.shards[int(batch["shard"])] = (int(batch["epoch"]), int(batch["index"]) + 1)
        self.consumed += 1
        self.examples += int(batch["examples"])

    def state_dict(self) -> dict:
        return {"consumed": self.consumed, "examples": self.examples,
                "shards": {str(k): list(v) for k, v in sorted(self.shards.items())}}

    @classmethod
    def from_state(cls, state: dict | None) -> "DataPosition":
        if not state:
            return cls()
        return cls(int(state["consumed"]), {int(k): tuple(v) for k, v in state["shards"].items()},
                   int(state.get("examples", 0)))


def _truncate(ids: np.ndarray, limit: int, eos_id: int) -> np.ndarray:
    if len(ids) <= limit:
        return ids
    out = ids[:limit].copy()
    if ids[-1] == eos_id:
        out[-1] = eos_id
    return out


def _bucket(length: int, boundaries: tuple) -> int:
    return int(np.searchsorted(boundaries, length))


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple if multiple > 1 else n


def collate(rows: list[tuple[np.ndarray, np.ndarray]], cfg: StreamConfig) -> dict:
    """Pad `rows` of (input ids, target ids) to the batch's longest, as model-ready tensors."""
    src = _round_up(max(len(a) for a, _ in rows), cfg.pad_to_multiple)
    tgt = _round_up(max(len(b) for _, b in rows), cfg.pad_to_multiple)
    input_ids = np.full((len(rows), src), cfg.pad_id, dtype=np.int64)
    decoder_input_ids = np.full((len(rows), tgt), cfg.pad_id, dtype=np.int64)
    labels = np.full((len(rows), tgt), -100, dtype=np.int64)
    for i, (a, b) in enumerate(rows):
        input_ids[i, : len(a)] = a
        labels[i, : len(b)] = b
        decoder_input_ids[i, 0] = cfg.decoder_start_id
        decoder_input_ids[i, 1 : len(b)] = b[:-1]
    if cfg.vocab_size is not None:
        high = max(int(input_ids.max()), int(labels.max()))
        low = min(int(input_ids.min()), int(np.where(labels < 0, 0, labels).min()))
        if high >= cfg.vocab_size or low < 0:
            raise ValueError(f"token id out of range [0, {cfg.vocab_size}): saw {low}..{high}")
    keep = np.arange(src)[None, :] < np.array([len(a) for a, _ in rows])[:, None]
    target_keep = np.arange(tgt)[None, :] < np.array([len(b) for _, b in rows])[:, None]
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(keep),
        "decoder_input_ids": torch.from_numpy(decoder_input_ids),
        "labels": torch.from_numpy(labels),
        # flat indices of labelled positions, found here on the host so the model never syncs for them
        "label_positions": torch.from_numpy(np.flatnonzero(labels.reshape(-1) >= 0)),
        # flat indices of the real input / target tokens: the model computes on those rows only
        "input_positions": torch.from_numpy(np.flatnonzero(keep.reshape(-1))),
        "target_positions": torch.from_numpy(np.flatnonzero(target_keep.reshape(-1))),
        "examples": len(rows),
    }


def _check_vocab(batch: dict, vocab_size: int | None) -> None:
    if vocab_size is None:
        return
    ids, labels = batch["input_ids"], batch["labels"]
    high = max(int(ids.max()), int(labels.max()))
    low = min(int(ids.min()), int(labels.clamp(min=0).min()))
    if high >= vocab_size or low < 0:
        raise ValueError(f"token id out of range [0, {vocab_size}): saw {low}..{high}")


def collate_batch(group: list, cfg: StreamConfig) -> dict:
    """The batch tensors of one group from `ExampleStream.epoch_groups` (packed or padded per `cfg`)."""
    if not cfg.packing:
        return collate(group, cfg)
    input_len, target_len = cfg.packed_lengths()
    batch = collate_packed(group, cfg.batch_size, _round_up(input_len, cfg.pad_to_multiple),
                           _round_up(target_len, cfg.pad_to_multiple), cfg.pad_id, cfg.decoder_start_id)
    _check_vocab(batch, cfg.vocab_size)
    return batch


class _ParquetCache:
    """A few open ParquetFiles, least recently used closed first. `read` also returns which rows belong to
    documents in `skip` (doc_ids of a chain's superseded documents, train.corpus), or None."""

    def __init__(self, files: list[str], size: int = 4, skip: frozenset = frozenset()):
        self.files, self.size, self.open, self.skip = files, size, OrderedDict(), skip

    def read(self, unit: Unit) -> tuple[np.ndarray, ...]:
        pf = self.open.pop(unit.file, None) or open_parquet(self.files[unit.file])
        self.open[unit.file] = pf
        while len(self.open) > self.size:
            self.open.popitem(last=False)[1].close()
        table = pf.read_row_group(unit.row_group, columns=_COLUMNS + (["doc_id"] if self.skip else []))
        drop = [d in self.skip for d in table.column("doc_id").to_pylist()] if self.skip else None
        out = []
        for name in _COLUMNS:
            column = table.column(name).combine_chunks()
            out += [column.offsets.to_numpy(), column.values.to_numpy(zero_copy_only=False)]
        return (*out, drop)


class ExampleStream(IterableDataset):
    """IterableDataset of padded batches for one rank; splits units across ranks and DataLoader workers.

    `num_workers` must equal the DataLoader's (0 = read in the main process). `position` (a
    DataPosition) makes the stream start where a previous one stopped. With `infinite`, epochs repeat
    forever (training); otherwise one pass (validation, no shuffling needed).
    """

    def __init__(
        self,
        files: list[str],
        cfg: StreamConfig,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        infinite: bool = True,
        position: DataPosition | None = None,
        version_id: str | None = None,
        units: list[Unit] | None = None,
        skip_doc_ids: frozenset = frozenset(),
    ):
        super().__init__()
        self.skip_doc_ids = frozenset(skip_doc_ids)  # a chain's superseded documents (train.corpus)
        if not files:
            raise ValueError("no Parquet files to read")
        self.files, self.cfg, self.infinite = list(files), cfg, infinite
        self.rank, self.world_size, self.num_workers = rank, world_size, num_workers
        self.readers = world_size * max(1, num_workers)
        # `units` lets rank 0 read every footer once and broadcast the plan (see Trainer._streams)
        self.units = list(units) if units is not None else plan_units(self.files, self.readers)
        self.position = position or DataPosition()
        self.version_id = version_id

    def fingerprint(self) -> dict:
        """What a saved position depends on: the corpus version id (from its manifest), shard names (not
        their location, so a moved corpus still resumes) and the stream config; resuming requires equality."""
        cfg = asdict(self.cfg)
        cfg["bucket_boundaries"] = list(cfg["bucket_boundaries"])
        names = [f.rstrip("/").rsplit("/", 1)[-1] for f in self.files]
        return {"version_id": self.version_id, "files": names, "units": len(self.units), "readers": self.readers,
                "config": cfg}

    def shard_units(self, shard: int, epoch: int) -> list[Unit]:
        """The units reader `shard` reads in `epoch`, in reading order.

        Units are taken in a seeded order and each goes to the reader with the fewest rows so far (ties to
        the lowest reader), so readers' row counts differ by at most one unit and ranks end epochs together.
        """
        order = np.arange(len(self.units))
        if self.cfg.shuffle:
            order = rng_for(self.cfg.seed, "units", epoch).permutation(len(self.units))
        return [self.units[i] for i in balanced_assignment(self.units, order, self.readers)[shard]]

    def _rows(self, units: list[Unit]) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        cache, cfg = _ParquetCache(self.files, skip=self.skip_doc_ids), self.cfg
        for unit in units:
            in_off, in_val, tg_off, tg_val, drop = cache.read(unit)
            for r in range(unit.start, unit.stop):
                if drop is not None and drop[r]:
                    continue
                a, b = in_val[in_off[r] : in_off[r + 1]], tg_val[tg_off[r] : tg_off[r + 1]]
                if len(a) and len(b):
                    yield _truncate(a, cfg.max_input_len, cfg.eos_id), _truncate(b, cfg.max_target_len, cfg.eos_id)
        for pf in cache.open.values():
            pf.close()

    def _shuffled(self, rows, rng: np.random.Generator):
        size = self.cfg.shuffle_buffer
        buffer: list = []
        for row in rows:
            if len(buffer) < size:
                buffer.append(row)
                continue
            j = int(rng.integers(size))
            yield buffer[j]
            buffer[j] = row
        for j in rng.permutation(len(buffer)):
            yield buffer[j]

    def epoch_groups(self, shard: int, epoch: int) -> Iterator[list]:
        """Uncollated batches of reader `shard` in `epoch`: lists of (input, target) arrays, or with
        packing lists of rows of them (train.packing)."""
        cfg = self.cfg
        rows = self._rows(self.shard_units(shard, epoch))
        if cfg.shuffle:
            rows = self._shuffled(rows, rng_for(cfg.seed, "rows", epoch, shard, self.readers))
        if cfg.packing:
            yield from pack_batches(rows, cfg.batch_size, *cfg.packed_lengths())
            return
        buckets: dict = {}
        for a, b in rows:
            key = (_bucket(len(a), cfg.bucket_boundaries), _bucket(len(b), cfg.bucket_boundaries))
            group = buckets.setdefault(key, [])
            group.append((a, b))
            if len(group) == cfg.batch_size:
                yield buckets.pop(key)
        for key in sorted(buckets):
            yield buckets[key]

    def _shard(self) -> int:
        info = get_worker_info()
        workers = max(1, self.num_workers)
        worker = 0
        if info is not None:
            if info.num_workers != workers:
                raise ValueError(f"ExampleStream built for {workers} workers, DataLoader has {info.num_workers}")
            worker = info.id
        # DataLoader asks its workers round-robin from worker 0; rotate so batch n comes from reader n % workers.
        return self.rank * workers + (worker + self.position.consumed) % workers

    def __iter__(self) -> Iterator[dict]:
        shard = self._shard()
        epoch, skip = self.position.shards.get(shard, (0, 0))
        while True:
            produced = False
            for index, rows in enumerate(self.epoch_groups(shard, epoch)):
                produced = True
                if index >= skip:
                    yield {**collate_batch(rows, self.cfg), "shard": shard, "epoch": epoch, "index": index}
            if not self.infinite:
                return
            if not produced:
                raise RuntimeError(
                    f"reader {shard} of {self.readers} got no examples in epoch {epoch}: "
                    "the split has too few rows for this many ranks x workers"
                )
            epoch, skip = epoch + 1, 0
