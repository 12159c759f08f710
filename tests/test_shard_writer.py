import io
import random

import apache_beam as beam
import pyarrow.parquet as pq

from schemas.tables import REJECTS, SCHEMA_VERSION, SCHEMA_VERSION_KEY
from transforms.ingest import make_reject
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
    assert sorted(files) == [f"part-{i:05d}-of-00006.parquet" for i in range(6)]
    tables = [pq.read_table(io.BytesIO(b)) for b in files.values()]
    assert sum(t.num_rows for t in tables) == 3
    assert all(t.schema.metadata[SCHEMA_VERSION_KEY] == SCHEMA_VERSION.encode() for t in tables)


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
