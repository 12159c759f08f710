"""Dead letters, not dead jobs: an exception inside clean, segment or examples for one document rejects
that document (stage named, exception recorded), the build succeeds and the accounting identity holds."""

from __future__ import annotations

import json
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from apache_beam.testing.util import assert_that, equal_to

import transforms.cleaning.stage as clean_stage
import transforms.examples.transform as examples_stage
import transforms.segment as segment_stage
from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus
from pipelines.corpus.verify import verify
from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.ingest.parse import doc_id_of

SMALL_CONFIG = "[output]\ndocuments_shards = 2\nexamples_shards = 2\n"


def _table(out: Path, name: str) -> pa.Table:
    return pa.concat_tables([pq.read_table(p) for p in sorted((out / name).glob("**/part-*.parquet"))])


def _build(raw: Path, out: Path, cfg: Path, *flags: str) -> int:
    return main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg),
                 "--direct_running_mode=in_memory", "--direct_num_workers=1", *flags])


class _Half(beam.DoFn):
    @guarded("demo")
    def process(self, x):
        yield x  # emitted only if the whole element succeeds
        if x % 2:
            raise ZeroDivisionError(f"odd {x}")


def test_guarded_process_drops_partial_outputs_and_emits_one_dead_letter():
    with beam.Pipeline(runner="FnApiRunner") as p:
        out = p | beam.Create([{"doc_id": str(i), "n": i} for i in range(6)]) | beam.Map(lambda d: d["n"])
        res = out | beam.ParDo(_Half()).with_outputs(DEAD_LETTERS, main="ok")
        assert_that(res.ok, equal_to([0, 2, 4]), label="ok")
        assert_that(res[DEAD_LETTERS] | beam.Map(lambda d: (d["stage"], d["exception"])),
                    equal_to([("demo", f"ZeroDivisionError: odd {i}") for i in (1, 3, 5)]), label="dead")


@pytest.mark.slow
def test_exceptions_in_clean_segment_and_examples_reject_one_document_each(tmp_path, monkeypatch):
    write_sample_corpus(str(tmp_path / "raw"), docs=16, seed=11)
    cfg = tmp_path / "corpus.toml"
    cfg.write_text(SMALL_CONFIG)
    assert _build(tmp_path / "raw", tmp_path / "base", cfg) == 0
    docs = _table(tmp_path / "base", "documents").to_pylist()
    per_doc = {}
    for row in _table(tmp_path / "base", "examples").select(["doc_id", "segment_index"]).to_pylist():
        per_doc.setdefault(row["doc_id"], set()).add(row["segment_index"])
    alone = [d for d in docs if d["cluster_size"] == 1 and len(per_doc.get(d["doc_id"], ())) >= 2]
    assert len(alone) >= 3
    x, y, z = (d["doc_id"] for d in alone[:3])

    real_check, real_segment, real_examples = (clean_stage.quality_check, segment_stage.segment_document,
                                               examples_stage.segment_examples)

    def bad_check(raw, *a, **k):
        if doc_id_of(raw) == x:
            raise ValueError("clean blew up")
        return real_check(raw, *a, **k)

    def bad_segment(doc, *a, **k):
        if doc["doc_id"] == y:
            raise RecursionError("segment blew up")
        return real_segment(doc, *a, **k)

    def bad_examples(segment, *a, **k):
        if segment["doc_id"] == z and segment["segment_index"] == 1:  # segment 0's examples came out first
            raise KeyError("examples blew up")
        return real_examples(segment, *a, **k)

    monkeypatch.setattr(clean_stage, "quality_check", bad_check)
    monkeypatch.setattr(segment_stage, "segment_document", bad_segment)
    monkeypatch.setattr(examples_stage, "segment_examples", bad_examples)
    out = tmp_path / "failing"
    assert _build(tmp_path / "raw", out, cfg, "--vocab", str(tmp_path / "base" / "vocab" / "spiece.model")) == 0

    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["accounting"]["holds"] and verify(str(out)).ok
    base_manifest = json.loads((tmp_path / "base" / "manifest.json").read_text())
    assert manifest["accounting"]["read"] == base_manifest["accounting"]["read"]
    assert manifest["accounting"]["rejected"] == base_manifest["accounting"]["rejected"] + 3
    for stage in ("clean", "segment", "examples"):
        assert manifest["counters"][f"{stage}.dead_letters"] >= 1

    by_id = {d["doc_id"]: d for d in docs}
    rejects = {(r["source"], r["locator"]): r for r in _table(out, "rejects").to_pylist() if r["reason"] == "exception"}
    assert set(rejects) == {(by_id[i]["source"], by_id[i]["locator"]) for i in (x, y, z)}
    stages = {key: (r["stage"], r["exception"].split(":")[0]) for key, r in rejects.items()}
    assert stages[(by_id[x]["source"], by_id[x]["locator"])] == ("clean", "ValueError")
    assert stages[(by_id[y]["source"], by_id[y]["locator"])] == ("segment", "RecursionError")
    assert stages[(by_id[z]["source"], by_id[z]["locator"])] == ("examples", "KeyError")

    # the rest is kept: every other document, and the examples of every other document
    kept = set(_table(out, "documents").column("doc_id").to_pylist())
    assert kept == set(by_id) - {x, y, z}
    assert set(_table(out, "examples").column("doc_id").to_pylist()) == set(per_doc) - {x, y, z}
