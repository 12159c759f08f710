"""Every table writer counts what it was given (on a path independent of its GroupByKey), what it
received and what it wrote; a shard that comes up short is named in the manifest and fails the build."""

from __future__ import annotations

import json

import apache_beam as beam
from apache_beam.metrics.metric import MetricsFilter

from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus
from pipelines.corpus.verify import verify
from schemas import manifest as mf
from schemas.tables import REJECTS
from tests.reference import unpack_rows
from transforms import shard_writer
from transforms.rejects import make_reject
from transforms.shard_writer import WriteTable, shard_of


def _rows(n):
    return [make_reject(f"file{i % 5}.txt", f"line {i}", "empty", "detail", i) for i in range(n)]


def _run(tmp_path, data, shards):
    p = beam.Pipeline(runner="FnApiRunner")
    records = p | beam.Create(data) | WriteTable(REJECTS, str(tmp_path), shards)
    _ = records | beam.Map(json.dumps, sort_keys=True) | beam.io.WriteToText(str(tmp_path / "records"))
    result = p.run()
    result.wait_until_finish()
    got = [json.loads(line) for f in tmp_path.glob("records*") for line in f.read_text().splitlines()]
    return sorted(got, key=lambda r: r["path"]), result


def _drop_one_row_of_shard(monkeypatch, victim: int):
    """Lose one row between the GroupByKey and the writer, as issue 18's runner did."""
    original = shard_writer._WriteShard.process

    def lossy(self, element):
        index, staged = element
        staged = list(staged)
        at = next((i for i, b in enumerate(staged) if b is not None), None)
        if index == victim and at is not None:  # unpack the first staged batch, drop one row, stage the rest again
            rows = list(unpack_rows(shard_writer.read_staged([staged[at]])))[1:]
            directory = staged[at][0].rsplit("/", 1)[0]
            blob = shard_writer.pack_rows(rows, shard_writer.table_schema(self._spec))
            staged[at] = shard_writer.stage_batches(directory, [(index, blob)])[0][1] if rows else None
        return original(self, (index, staged))

    monkeypatch.setattr(shard_writer._WriteShard, "process", lossy)


def test_file_records_carry_the_independently_counted_rows_and_counters_match(tmp_path):
    data = _rows(50)
    records, result = _run(tmp_path, data, 3)
    per_shard = [sum(shard_of(r["record_id"], 3) == i for r in data) for i in range(3)]
    assert [r["expected_rows"] for r in records] == per_shard
    assert [r["rows"] for r in records] == per_shard
    assert mf.writer_check(records) == {"holds": True, "rows_expected": {"rejects": 50}, "short": []}
    counters = {c.key.metric.name: c.committed for c in
                result.metrics().query(MetricsFilter().with_namespace(shard_writer.METRICS_NAMESPACE))["counters"]}
    assert counters == {"rejects.rows_received": 50, "rejects.rows_written": 50}


def test_a_shard_that_lost_rows_before_the_writer_is_named(tmp_path, monkeypatch):
    _drop_one_row_of_shard(monkeypatch, victim=1)
    data = _rows(50)
    records, _ = _run(tmp_path, data, 3)
    expected = sum(shard_of(r["record_id"], 3) == 1 for r in data)
    check = mf.writer_check(records)
    assert not check["holds"]
    assert check["short"] == [
        f"table rejects, shard rejects/part-00001-of-00003.parquet: wrote {expected - 1} rows, {expected} expected"]


def test_manifest_keeps_its_file_list_and_names_a_missing_shard():
    files = [{"path": "documents/part-00000-of-00002.parquet", "table": "documents", "rows": 4, "bytes": 9,
              "sha256": "ab", "expected_rows": 4},
             {"path": "documents/part-00001-of-00002.parquet", "table": "documents", "rows": None, "bytes": None,
              "sha256": None, "missing": True, "expected_rows": 3}]
    manifest = mf.build_manifest(config={}, inputs=[], files=files, stats={}, packages={}, input_patterns=[])
    assert manifest["files"] == [{"path": "documents/part-00000-of-00002.parquet", "table": "documents", "rows": 4,
                                  "bytes": 9, "sha256": "ab"}]
    assert manifest["writers"] == {
        "holds": False, "rows_expected": {"documents": 7},
        "short": ["table documents, shard documents/part-00001-of-00002.parquet: no file written, 3 rows expected"]}


def test_a_build_whose_writer_came_up_short_exits_1_and_verify_names_the_shard(tmp_path, monkeypatch, caplog):
    write_sample_corpus(str(tmp_path / "raw"), docs=8, seed=2)
    cfg = tmp_path / "corpus.toml"
    cfg.write_text("[output]\ndocuments_shards = 2\nexamples_shards = 2\n")
    _drop_one_row_of_shard(monkeypatch, victim=0)
    rc = main(["build", "--input", f"{tmp_path}/raw/*", "--output", str(tmp_path / "out"), "--config", str(cfg),
               "--direct_running_mode=in_memory", "--direct_num_workers=1"])
    assert rc == 1
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    short = manifest["writers"]["short"]
    # every table's shard 0 that had rows lost one; documents/ among them, named with table and file
    assert any(s.startswith("table documents, shard documents/part-00000-of-00002.parquet: wrote") for s in short)
    assert any("examples/train/part-00000-of-00002.parquet" in s for s in short)
    assert any("documents/part-00000-of-00002.parquet" in r.getMessage() for r in caplog.records)
    problems = verify(str(tmp_path / "out")).problems
    assert any("writer came up short: table documents" in p for p in problems)
