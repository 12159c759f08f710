import io
import random
from pathlib import Path

import apache_beam as beam
import pyarrow.parquet as pq

from schemas.tables import REJECTS, SCHEMA_VERSION, SCHEMA_VERSION_KEY
from tests.reference import unpack_rows
from transforms import shard_writer
from transforms.rejects import make_reject
from transforms.shard_writer import WriteTable, shard_of, sort_rows


def rows(n):
    return [make_reject(f"file{i % 7}.txt", f"line {i}", "empty", "detail", i) for i in range(n)]


def test_shard_of_is_stable_and_in_range():
    keys = [f"k{i}" for i in range(1000)]
    shards = [shard_of(k, 8) for k in keys]
    assert shards == [shard_of(k, 8) for k in keys]
    assert set(shards) == set(range(8))


def test_sort_rows_is_a_total_order_independent_of_input_order():
    data = rows(50) + [dict(r, detail="other") for r in rows(5)]  # 5 keys appear twice
    expected = sort_rows(list(data), "record_id")
    for seed in range(5):
        shuffled = list(data)
        random.Random(seed).shuffle(shuffled)
        assert sort_rows(shuffled, "record_id") == expected
    keys = [r["record_id"] for r in expected]
    assert keys == sorted(keys)


def _write(tmp_path, data, shards):
    with beam.Pipeline(runner="FnApiRunner") as p:
        _ = p | beam.Create(data) | WriteTable(REJECTS, str(tmp_path), shards)
    return {f.name: f.read_bytes() for f in sorted((tmp_path / "rejects").iterdir())}


def test_every_shard_is_written_even_empty_and_no_temp_files_remain(tmp_path):
    files = _write(tmp_path, rows(3), 6)
    assert [p.name for p in tmp_path.iterdir()] == ["rejects"]  # the staging directory is gone
    assert sorted(files) == [f"part-{i:05d}-of-00006.parquet" for i in range(6)]
    tables = [pq.read_table(io.BytesIO(b)) for b in files.values()]
    assert sum(t.num_rows for t in tables) == 3
    assert all(t.schema.metadata[SCHEMA_VERSION_KEY] == SCHEMA_VERSION.encode() for t in tables)


def test_the_writer_shuffle_carries_paths_of_staged_batches_not_their_bytes(tmp_path, monkeypatch):
    seen, original = [], shard_writer._WriteShard.process

    def recording(self, element):
        index, staged = element
        staged = list(staged)
        seen.append((index, [(ref[0], Path(ref[0]).is_file()) for ref in staged if ref is not None]))
        return original(self, (index, staged))

    monkeypatch.setattr(shard_writer._WriteShard, "process", recording)
    files = _write(tmp_path, rows(40), 3)
    assert sorted(index for index, _ in seen) == [0, 1, 2]
    staged = [entry for _, paths in seen for entry in paths]
    assert staged and all(isinstance(p, str) and exists for p, exists in staged)
    assert all(Path(p).parent.name == "_staging-rejects" for p, _ in staged)
    assert len({p for p, _ in staged}) < len(staged)  # a bundle's batches for several shards share one file
    assert not (tmp_path / "_staging-rejects").exists()  # deleted once every shard was written
    assert sum(pq.read_table(io.BytesIO(b)).num_rows for b in files.values()) == 40


def test_staged_batches_share_a_content_named_file_and_read_back_by_reference(tmp_path):
    batches = [(2, b"first batch"), (0, b"second"), (2, b"third, longer batch")]
    refs = shard_writer.stage_batches(str(tmp_path), batches)
    assert [shard for shard, _ in refs] == [2, 0, 2]
    assert len({ref[0] for _, ref in refs}) == 1 and len(list(tmp_path.iterdir())) == 1
    assert list(shard_writer.read_staged([ref for _, ref in refs] + [None])) == [blob for _, blob in batches]
    assert shard_writer.stage_batches(str(tmp_path), batches) == refs  # a rerun writes the same file
    other = shard_writer.stage_batches(str(tmp_path), batches[:1])
    assert other[0][1][0] != refs[0][1][0] and len(list(tmp_path.iterdir())) == 2


def test_same_rows_in_any_order_give_identical_bytes(tmp_path):
    data = rows(40)
    first = _write(tmp_path / "a", data, 3)
    shuffled = list(data)
    random.Random(1).shuffle(shuffled)
    second = _write(tmp_path / "b", shuffled, 3)
    assert first == second
    for name, blob in first.items():
        t = pq.read_table(io.BytesIO(blob))
        ids = t.column("record_id").to_pylist()
        assert ids == sorted(ids), name


# --- streaming writer: same content as one pq.write_table of the sorted rows, whatever it spills ---------------

import multiprocessing
import threading

import pytest

from schemas.tables import DOCUMENTS, EXAMPLES
from transforms import external_sort
from transforms.atomic_files import TEMP_MARKER, AtomicFile, sha256_of, write_atomically
from transforms.shard_writer import table_bytes, write_shard


def _example_rows(n):
    rng = random.Random(n)
    return [{"example_id": f"d{i % 97:03d}-{i:06d}-infilling", "task": "infilling", "doc_id": f"d{i % 97:03d}",
             "segment_index": i, "input_ids": [rng.randrange(32100) for _ in range(rng.randrange(1, 60))],
             "target_ids": [rng.randrange(32100) for _ in range(rng.randrange(1, 20))]} for i in range(n)]


@pytest.mark.parametrize("spill_bytes", [1 << 30, 40_000, 3_000])
def test_streaming_writer_equals_one_write_table_of_the_sorted_rows(tmp_path, spill_bytes, monkeypatch):
    monkeypatch.setattr(external_sort, "FAN_IN", 8)  # small fan-in: the cascade of merges runs too
    data = rows(400) + [dict(r, detail="other") for r in rows(30)]  # ties on the key
    reference = table_bytes(sort_rows(data, "record_id"), REJECTS, 64)
    shuffled = list(data)
    random.Random(spill_bytes).shuffle(shuffled)
    info = write_shard(iter(shuffled + [None]), REJECTS, str(tmp_path / "x.parquet"), 64, spill_bytes)
    blob = (tmp_path / "x.parquet").read_bytes()
    assert blob == reference
    assert info == {"received": 430, "rows": 430, "bytes": len(blob), "sha256": sha256_of(str(tmp_path / "x.parquet"))[0]}
    assert pq.read_table(io.BytesIO(blob)).to_pylist() == pq.read_table(io.BytesIO(reference)).to_pylist()
    assert pq.ParquetFile(io.BytesIO(blob)).num_row_groups == 7  # 430 rows in groups of 64
    assert [p.name for p in tmp_path.iterdir()] == ["x.parquet"]


def test_streaming_writer_spills_list_columns_and_is_deterministic(tmp_path):
    data = _example_rows(500)
    reference = table_bytes(sort_rows(data, "example_id"), EXAMPLES, 100)
    blobs = set()
    for spill in (1 << 30, 20_000):
        for seed in range(2):
            shuffled = list(data)
            random.Random(seed).shuffle(shuffled)
            write_shard(shuffled, EXAMPLES, str(tmp_path / "e.parquet"), 100, spill)
            blobs.add((tmp_path / "e.parquet").read_bytes())
    assert blobs == {reference}


def test_sorted_rows_spills_only_when_the_estimate_exceeds_the_budget(tmp_path):
    data = rows(200)
    total = sum(external_sort.row_bytes(r) for r in data)
    small = external_sort.SortedRows(REJECTS.schema, "record_id", str(tmp_path), spill_bytes=total + 1)
    small.extend(data)
    assert small.runs == []
    big = external_sort.SortedRows(REJECTS.schema, "record_id", str(tmp_path), spill_bytes=total // 5)
    big.extend(data)
    assert len(big.runs) >= 4
    merged = [r for t in big.batches(50) for r in t.to_pylist()]
    assert merged == sort_rows(data, "record_id")


def test_empty_shard_matches_write_table_of_an_empty_table(tmp_path):
    info = write_shard([None], DOCUMENTS, str(tmp_path / "d.parquet"), 64)
    assert (tmp_path / "d.parquet").read_bytes() == table_bytes([], DOCUMENTS, 64)
    assert info["rows"] == info["received"] == 0


# --- concurrent attempts: unique temp names, no delete-before-rename, idempotent finalize ----------------------

def _attempt(path, data, barrier):
    barrier.wait()
    write_shard(data, REJECTS, path, 64, 50_000)


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_two_attempts_writing_one_shard_at_once_leave_one_correct_file(tmp_path, kind):
    data = rows(3000)
    path = str(tmp_path / "part-00000-of-00001.parquet")
    reference = table_bytes(sort_rows(data, "record_id"), REJECTS, 64)
    for _ in range(3):
        if kind == "threads":
            barrier = threading.Barrier(2)
            workers = [threading.Thread(target=_attempt, args=(path, data, barrier)) for _ in range(2)]
        else:
            ctx = multiprocessing.get_context("fork")
            barrier = ctx.Barrier(2)
            workers = [ctx.Process(target=_attempt, args=(path, data, barrier)) for _ in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(60)
        if kind == "processes":
            assert [w.exitcode for w in workers] == [0, 0]
        assert [p.name for p in tmp_path.iterdir()] == ["part-00000-of-00001.parquet"]
        assert (tmp_path / "part-00000-of-00001.parquet").read_bytes() == reference


def test_finalize_leaves_an_identical_final_file_alone_and_replaces_a_different_one(tmp_path):
    path = tmp_path / "f.bin"
    write_atomically(str(path), b"abc")
    inode = path.stat().st_ino
    write_atomically(str(path), b"abc")  # a retried attempt with the same bytes
    assert path.stat().st_ino == inode  # not replaced
    write_atomically(str(path), b"abcd")  # different bytes: renamed over it, never deleted first
    assert path.read_bytes() == b"abcd" and path.stat().st_ino != inode
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_failed_attempt_removes_its_temporary_and_keeps_the_earlier_file(tmp_path):
    path = tmp_path / "f.bin"
    write_atomically(str(path), b"good")
    with pytest.raises(ZeroDivisionError):
        with AtomicFile(str(path)) as f:
            f.write(b"partial")
            assert any(TEMP_MARKER in p.name for p in tmp_path.iterdir())
            raise ZeroDivisionError
    assert path.read_bytes() == b"good"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


# --- the writer's shuffle carries packed Arrow batches, not Python rows ---------------------------------------


def test_packed_batches_round_trip_rows_as_the_parquet_file_stores_them():
    from transforms.shard_writer import pack_rows, table_schema

    data = _example_rows(50)
    schema = table_schema(EXAMPLES)
    blobs = [pack_rows(data[:20], schema), None, pack_rows(data[20:], schema)]
    assert all(isinstance(b, bytes) for b in blobs if b is not None)
    stored = pq.read_table(io.BytesIO(table_bytes(data, EXAMPLES, 64))).to_pylist()
    assert list(unpack_rows(blobs)) == stored


@pytest.mark.parametrize("pack_bytes", [2_000, 1 << 30])
def test_batch_sizes_of_the_shuffle_do_not_change_the_files(tmp_path, pack_bytes, monkeypatch):
    from transforms import shard_writer

    reference = _write(tmp_path / "ref", rows(300), 4)
    monkeypatch.setattr(shard_writer, "PACK_BYTES", pack_bytes)
    monkeypatch.setattr(shard_writer, "PACK_BUNDLE_BYTES", 3 * pack_bytes)
    shuffled = rows(300)
    random.Random(pack_bytes).shuffle(shuffled)
    assert _write(tmp_path / "packed", shuffled, 4) == reference


@pytest.mark.parametrize("spill_bytes", [1 << 30, 20_000, 3_000])
def test_packed_arrow_batches_sort_and_spill_to_the_same_bytes(tmp_path, spill_bytes, monkeypatch):
    """The writer's real input: Arrow tables from packed batches, sorted and merged without Python rows."""
    from transforms.shard_writer import pack_rows, table_schema, unpack_tables

    monkeypatch.setattr(external_sort, "FAN_IN", 4)  # the cascade of merges runs too
    for spec, data, key, group in ((REJECTS, rows(300) + [dict(r, detail="other") for r in rows(40)], "record_id", 64),
                                   (EXAMPLES, _example_rows(400), "example_id", 50)):
        reference = table_bytes(sort_rows(data, key), spec, group)
        shuffled = list(data)
        random.Random(spill_bytes).shuffle(shuffled)
        schema = table_schema(spec)
        cuts = sorted(random.Random(1).sample(range(1, len(data)), 12))
        blobs = [pack_rows(shuffled[a:b], schema) for a, b in zip([0] + cuts, cuts + [len(data)])] + [None]
        path = str(tmp_path / f"{spec.name}.parquet")
        info = write_shard(unpack_tables(blobs), spec, path, group, spill_bytes)
        assert open(path, "rb").read() == reference, spec.name
        assert info["received"] == info["rows"] == len(data)
