"""train.data: sharding across ranks/workers, deterministic shuffling, bucketing, resumable position."""

import itertools

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from torch.utils.data import DataLoader

from schemas.tables import EXAMPLES, SCHEMA_VERSION_KEY
from train.data import DataPosition, ExampleStream, StreamConfig, collate, plan_units, split_files
from train.synthetic import write_manifest, write_shards


def _rows(n: int, seed: int = 0) -> list[dict]:
    """Rows whose input starts with a unique tag (row number + 10) so every example is identifiable."""
    rng = np.random.Generator(np.random.PCG64(seed))
    rows = []
    for i in range(n):
        source = [i + 10] + rng.integers(3, 50, size=int(rng.integers(1, 40))).tolist() + [1]
        target = rng.integers(3, 50, size=int(rng.integers(1, 30))).tolist() + [1]
        rows.append({"example_id": f"{i:032x}-000000-continuation", "task": "continuation", "input_ids": source,
                     "target_ids": target, "doc_id": f"{i:032x}", "segment_index": 0})
    return rows


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    rows = _rows(500)
    write_shards(root / "examples" / "train", rows, rows_per_file=130, row_group_size=20)
    write_manifest(root, {"test": "data"})
    return root, rows


def _tags(batch: dict) -> list[int]:
    return batch["input_ids"][:, 0].tolist()


def _epoch_tags(stream: ExampleStream, shard: int, epoch: int) -> list[int]:
    return [int(a[0]) for group in stream.epoch_groups(shard, epoch) for a, _ in group]


def test_split_files_finds_sorted_parts(corpus):
    root, _ = corpus
    files = split_files(str(root), "train")
    assert [f.rsplit("/", 1)[1] for f in files] == [f"part-{i:05d}.parquet" for i in range(4)]
    assert split_files(str(root), "validation") == []


def test_shards_come_from_the_manifest_never_from_a_glob(tmp_path):
    root = tmp_path / "corpus"
    write_shards(root / "examples" / "train", _rows(60), rows_per_file=30, row_group_size=10)
    with pytest.raises(FileNotFoundError, match="manifest.json not found"):
        split_files(str(root), "train")  # a build that died before its manifest is not a corpus
    write_manifest(root, {"build": 1})
    listed = split_files(str(root), "train")
    # a stale shard of an earlier build in the same directory is not read
    write_shards(root / "examples" / "stale", _rows(5, seed=1), rows_per_file=30)
    (root / "examples" / "stale" / "part-00000.parquet").rename(root / "examples" / "train" / "part-00099.parquet")
    assert split_files(str(root), "train") == listed and len(listed) == 2
    (root / "examples" / "train" / "part-00001.parquet").unlink()
    with pytest.raises(FileNotFoundError, match="missing.*part-00001"):
        split_files(str(root), "train")


@pytest.mark.parametrize("world,workers", [(1, 0), (2, 2), (3, 1)])
def test_every_example_read_exactly_once_per_epoch(corpus, world, workers):
    root, rows = corpus
    files = split_files(str(root), "train")
    cfg = StreamConfig(batch_size=7, seed=3, shuffle_buffer=32)
    readers = world * max(1, workers)
    for epoch in (0, 1):
        seen = []
        for rank in range(world):
            stream = ExampleStream(files, cfg, rank=rank, world_size=world, num_workers=workers)
            for shard in range(rank * max(1, workers), (rank + 1) * max(1, workers)):
                seen += _epoch_tags(stream, shard, epoch)
        assert sorted(seen) == [i + 10 for i in range(len(rows))], (epoch, readers)


def test_too_few_row_groups_are_cut_into_row_ranges(tmp_path):
    write_shards(tmp_path, _rows(10), rows_per_file=10, row_group_size=10)
    files = [str(p) for p in sorted(tmp_path.glob("*.parquet"))]
    units = plan_units(files, min_units=4)
    assert len(units) == 4
    assert sorted((u.start, u.stop) for u in units)[0][0] == 0
    assert sum(u.stop - u.start for u in units) == 10
    stream = ExampleStream(files, StreamConfig(batch_size=2), rank=0, world_size=4)
    assert sorted(t for s in range(4) for t in _epoch_tags(stream, s, 0)) == list(range(10, 20))


def test_order_is_a_function_of_seed_and_epoch(corpus):
    root, _ = corpus
    files = split_files(str(root), "train")
    make = lambda seed: ExampleStream(files, StreamConfig(batch_size=5, seed=seed, shuffle_buffer=64))
    a0, a0_again, a1, b0 = _epoch_tags(make(1), 0, 0), _epoch_tags(make(1), 0, 0), _epoch_tags(make(1), 0, 1), _epoch_tags(make(2), 0, 0)
    assert a0 == a0_again
    assert a0 != a1 and sorted(a0) == sorted(a1)
    assert a0 != b0
    assert a0 != sorted(a0)


def test_shuffle_buffer_is_bounded():
    stream = ExampleStream.__new__(ExampleStream)
    stream.cfg = StreamConfig(shuffle_buffer=16)
    rows = list(range(1000))
    out = list(stream._shuffled(iter(rows), np.random.Generator(np.random.PCG64(0))))
    assert sorted(out) == rows and out != rows
    # with 16 slots, the row emitted at position j arrived at most 16 rows later
    assert max(row - position for position, row in enumerate(out)) <= 16


def test_batches_are_length_bucketed_and_dynamically_padded(corpus):
    root, rows = corpus
    by_tag = {r["input_ids"][0]: r for r in rows}
    cfg = StreamConfig(batch_size=6, bucket_boundaries=(8, 16, 24, 32, 48), pad_to_multiple=8)
    stream = ExampleStream(split_files(str(root), "train"), cfg, infinite=False)
    batches = list(stream)
    assert sum(len(b["input_ids"]) for b in batches) == len(rows)
    for b in batches:
        source = [by_tag[t]["input_ids"] for t in _tags(b)]
        target = [by_tag[t]["target_ids"] for t in _tags(b)]
        assert b["input_ids"].shape[1] == -(-max(map(len, source)) // 8) * 8  # padded to this batch only
        assert b["labels"].shape[1] == -(-max(map(len, target)) // 8) * 8
        buckets = {(np.searchsorted(cfg.bucket_boundaries, len(s)), np.searchsorted(cfg.bucket_boundaries, len(t)))
                   for s, t in zip(source, target)}
        assert len(buckets) == 1
        for i, (s, t) in enumerate(zip(source, target)):
            assert b["input_ids"][i, : len(s)].tolist() == s and b["attention_mask"][i].sum() == len(s)
            assert b["labels"][i, : len(t)].tolist() == t and (b["labels"][i, len(t) :] == -100).all()
            assert b["decoder_input_ids"][i, 0] == 0 and b["decoder_input_ids"][i, 1 : len(t)].tolist() == t[:-1]


def test_collate_says_where_the_real_tokens_are():
    rows = [(np.array([5, 6, 7, 1]), np.array([9, 1])), (np.array([4, 1]), np.array([8, 7, 6, 1]))]
    b = collate(rows, StreamConfig(pad_to_multiple=8))
    flat_inputs = b["input_ids"].reshape(-1)[b["input_positions"]].tolist()
    assert flat_inputs == [5, 6, 7, 1, 4, 1] and b["input_positions"].tolist() == [0, 1, 2, 3, 8, 9]
    # the decoder's real positions: one per target token, row by row (here every one is labelled)
    assert b["target_positions"].tolist() == [0, 1, 8, 9, 10, 11]
    assert b["labels"].reshape(-1)[b["target_positions"]].tolist() == [9, 1, 8, 7, 6, 1]


def test_collate_truncation_keeps_eos_and_checks_vocab():
    from train.data import _truncate

    rows = [(np.array([5, 6, 7, 8, 1]), np.array([9, 1]))]
    assert _truncate(rows[0][0], 3, 1).tolist() == [5, 6, 1]
    with pytest.raises(ValueError, match="out of range"):
        collate(rows, StreamConfig(vocab_size=8))


def _consume(loader_iter, n, position=None):
    out = []
    for batch in itertools.islice(loader_iter, n):
        if position is not None:
            position.advance(batch)
        out.append(batch)
    return out


@pytest.mark.parametrize("workers", [0, 2])
def test_resume_from_position_continues_the_same_sequence(corpus, workers):
    root, _ = corpus
    files = split_files(str(root), "train")
    cfg = StreamConfig(batch_size=16, seed=9, shuffle_buffer=50)
    loader = lambda pos=None: DataLoader(ExampleStream(files, cfg, num_workers=workers, position=pos),
                                         batch_size=None, num_workers=workers)
    reference = _consume(iter(loader()), 90)  # ~2.8 epochs per reader
    position = DataPosition()
    first = _consume(iter(loader()), 37, position)
    state = position.state_dict()
    resumed = _consume(iter(loader(DataPosition.from_state(state))), 90 - 37)
    for expected, got in zip(reference, first + resumed):
        assert torch.equal(expected["input_ids"], got["input_ids"]) and torch.equal(expected["labels"], got["labels"])
    assert len(first + resumed) == 90


def test_fsspec_urls_read_the_same_batches(corpus):
    pytest.importorskip("fsspec")
    root, _ = corpus
    url_files = split_files(f"file://{root}", "train")
    assert url_files and all(f.startswith("file://") for f in url_files)
    cfg = StreamConfig(batch_size=8)
    local = list(ExampleStream(split_files(str(root), "train"), cfg, infinite=False))
    remote = list(ExampleStream(url_files, cfg, infinite=False))
    assert len(local) == len(remote)
    assert all(torch.equal(a["input_ids"], b["input_ids"]) for a, b in zip(local, remote))


def test_other_schema_versions_are_refused(tmp_path):
    schema = EXAMPLES.schema.with_metadata({SCHEMA_VERSION_KEY: b"999"})
    pq.write_table(pa.Table.from_pylist(_rows(3), schema=schema), tmp_path / "part-00000.parquet")
    with pytest.raises(ValueError, match="schema version"):
        plan_units([str(tmp_path / "part-00000.parquet")])


def test_readers_get_balanced_row_counts_from_unequal_units(tmp_path):
    root = tmp_path / "corpus"
    rows = _rows(400)
    # files of very different sizes, one row group each
    start = 0
    sizes = (5, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55, 70)
    for number, size in enumerate(sizes):
        write_shards(root / "examples" / "train" / f"f{number}", rows[start:start + size], rows_per_file=size,
                     row_group_size=size)
        (root / "examples" / "train" / f"f{number}" / "part-00000.parquet").rename(
            root / "examples" / "train" / f"part-{number:05d}.parquet")
        start += size
    write_manifest(root, {"test": "balance"})
    files = split_files(str(root), "train")
    stream = ExampleStream(files, StreamConfig(batch_size=4, seed=1), world_size=4, num_workers=0)
    assert sorted(u.stop - u.start for u in stream.units) == list(sizes)
    for epoch in (0, 1, 2):
        counts = [sum(u.stop - u.start for u in stream.shard_units(shard, epoch)) for shard in range(4)]
        # greedy by rows: readers differ by at most one unit (dealt round-robin they could differ by far more)
        assert sum(counts) == 400 and max(counts) - min(counts) <= max(sizes), counts
    units = plan_units(files, 4)
    again = ExampleStream(files, StreamConfig(batch_size=4, seed=1), world_size=4, units=units)
    assert again.shard_units(2, 0) == stream.shard_units(2, 0)  # a broadcast plan reads the same
