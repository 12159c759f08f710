"""The decontaminate stage in Beam: eval files -> index side input -> documents kept, cut, or filtered."""

from __future__ import annotations

import glob
import json
import random
import tempfile
from dataclasses import dataclass

import apache_beam as beam
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from schemas.tables import DECONTAMINATED, FILTERED
from tests.decontam_texts import ascii_punctuation, hard_wrap, plant, prose
from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.digest import eval_files_record, eval_set_digest
from transforms.decontam.rows import CONTAMINATED
from transforms.decontam.stage import DecontaminateDocuments
from transforms.documents import with_text


@dataclass(frozen=True)
class InputFile:
    """What the stage reads of a matched eval file (pipelines' InputFile has the same two fields)."""

    path: str
    source: str


def run_stage(docs, files, cfg, workers=1):
    """{output name: sorted JSON lines} of DecontaminateDocuments on `docs`."""
    opts = PipelineOptions(flags=[], direct_num_workers=workers, direct_running_mode="multi_threading")
    with tempfile.TemporaryDirectory() as out:
        with beam.Pipeline(runner="FnApiRunner", options=opts) as p:
            res = p | beam.Create(docs) | DecontaminateDocuments(cfg, files)
            outputs = {"kept": res.main, "decontaminated": res.output("decontaminated"),
                       "filtered": res.output("filtered"), "stats": res.stats, "dead_letters": res.dead_letters}
            for name, pcoll in outputs.items():
                (pcoll | f"J{name}" >> beam.Map(lambda x: json.dumps(x, ensure_ascii=False, sort_keys=True))
                 | f"W{name}" >> beam.io.WriteToText(f"{out}/{name}"))
        return {name: [json.loads(line) for line in sorted(
                    line for f in glob.glob(f"{out}/{name}*") for line in open(f, encoding="utf-8"))]
                for name in ("kept", "decontaminated", "filtered", "stats", "dead_letters")}


def doc(doc_id, text):
    return with_text({"doc_id": doc_id, "source": f"{doc_id}.txt", "locator": "", "title": doc_id,
                      "raw_char_length": len(text)}, text)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    rng = random.Random(11)
    tmp = tmp_path_factory.mktemp("eval")
    stories = [prose(rng, 3, 60, 120) for _ in range(4)]
    (tmp / "outgen").mkdir()
    (tmp / "outgen" / "test.jsonl").write_text("\n".join(json.dumps(
        {"story": "".join(s), "outline": [p[:8] for p in s]}, ensure_ascii=False) for s in stories[:2]) + "\n",
        encoding="utf-8")
    (tmp / "plotcom").mkdir()
    story2 = "".join(stories[2])
    cut = len(stories[2][0]) + 10
    masked = story2[:cut] + "[MASK]" + story2[cut + 30:]  # a PlotCom-style item: a sentence masked out
    (tmp / "plotcom" / "test.source").write_text("小狗#公园#玩耍\n" + masked + "\n" + "".join(stories[3]) + "\n",
                                                  encoding="utf-8")
    files = [InputFile(str(tmp / "outgen" / "test.jsonl"), "outgen/test.jsonl"),
             InputFile(str(tmp / "plotcom" / "test.source"), "plotcom/test.source")]
    novel = prose(rng, 80)
    original_a, planted_a = plant(novel, [ascii_punctuation(p) for p in stories[0]], at=20)
    original_b, planted_b = plant(novel[40:], hard_wrap("".join(stories[2]), 25).split("\n"), at=10, sep="\n\n")
    docs = [doc("a", planted_a), doc("b", planted_b), doc("c", "\n".join(novel[:50])),
            doc("d", "\n".join(stories[3])), doc("e", "\n".join(novel[:30]))]
    return files, docs, {"a": original_a, "b": original_b}


@pytest.fixture(scope="module")
def result(setup):
    files, docs, _ = setup
    return run_stage(docs, files, DecontaminateConfig(files=["unused-by-the-stage"]))


def test_planted_documents_are_cut_byte_for_byte_and_others_pass_unchanged(setup, result):
    _, docs, originals = setup
    kept = {d["doc_id"]: d for d in result["kept"]}
    assert sorted(kept) == ["a", "b", "c", "e"]
    for doc_id, original in originals.items():
        assert kept[doc_id]["text"] == original
        assert kept[doc_id]["char_length"] == len(original)
    by_id = {d["doc_id"]: d for d in docs}
    assert kept["c"] == by_id["c"] and kept["e"] == by_id["e"]


def test_a_document_that_is_the_story_is_filtered_contaminated(result):
    (row,) = result["filtered"]
    assert set(row) == set(FILTERED.schema.names)
    assert row["doc_id"] == "d" and row["reason"] == CONTAMINATED and row["value"] == 0.0


def test_every_removal_is_recorded_with_its_eval_item(setup, result):
    _, docs, _ = setup
    rows = {r["doc_id"]: r for r in result["decontaminated"]}
    assert len(result["decontaminated"]) == 3 and set(rows) == {"a", "b", "d"}
    assert all(set(r) == set(DECONTAMINATED.schema.names) for r in rows.values())
    assert (rows["a"]["eval_file"], rows["a"]["item_index"]) == ("outgen/test.jsonl", 0)
    assert (rows["b"]["eval_file"], rows["b"]["item_index"]) == ("plotcom/test.source", 1)
    assert (rows["d"]["eval_file"], rows["d"]["item_index"], rows["d"]["doc_filtered"]) == ("plotcom/test.source", 2, True)
    text_a = next(d["text"] for d in docs if d["doc_id"] == "a")
    r = rows["a"]
    assert r["chars_removed"] == r["char_end"] - r["char_start"] == len(text_a) - len(setup[2]["a"])
    assert r["matched_ngrams"] > 0 and r["items_matched"] == 1


def test_counters_keep_the_accounting(result):
    stats = {}
    for name, n in result["stats"]:
        stats[name] = stats.get(name, 0) + n
    assert stats["decontaminate.docs_in"] == 5 == len(result["kept"]) + len(result["filtered"])
    assert stats["decontaminate.docs_filtered"] == 1 and stats["decontaminate.docs_changed"] == 3
    assert stats["decontaminate.eval_items"] == 5  # 2 jsonl lines + 3 source lines
    assert stats["decontaminate.eval_items_too_short"] == 1  # the outline line
    assert stats["decontaminate.chars_removed"] == sum(r["chars_removed"] for r in result["decontaminated"])
    assert result["dead_letters"] == []


def test_two_workers_give_the_same_outputs(setup, result):
    files, docs, _ = setup
    again = run_stage(list(reversed(docs)), list(reversed(files)), DecontaminateConfig(files=["x"]), workers=2)
    assert again == result


def test_eval_set_digest_follows_contents_not_location(setup, tmp_path):
    files, _, _ = setup
    record = eval_files_record(files)
    copies = []
    for f in files:
        dest = tmp_path / f.source.replace("/", "_")
        dest.write_bytes(open(f.path, "rb").read())
        copies.append(InputFile(str(dest), f.source))
    assert eval_set_digest(eval_files_record(copies)) == eval_set_digest(record)
    (tmp_path / "outgen_test.jsonl").write_text("{}\n", encoding="utf-8")
    assert eval_set_digest(eval_files_record(copies)) != eval_set_digest(record)


def test_the_audit_in_one_process_finds_what_the_stage_removed(setup, result):
    from transforms.decontam.evalset import read_eval_set
    from transforms.decontam.rows import audit
    from transforms.dedupe.keytext import make_converter

    files, docs, _ = setup
    conv = make_converter()
    index, counts = read_eval_set(files, DecontaminateConfig(), conv)
    assert counts == {"outgen/test.jsonl": {"items": 2, "used": 2, "too_short": 0},
                      "plotcom/test.source": {"items": 3, "used": 2, "too_short": 1}}
    rows = sorted(audit(docs, index, DecontaminateConfig(), conv), key=lambda r: (r["doc_id"], r["char_start"]))
    assert rows == sorted(result["decontaminated"], key=lambda r: (r["doc_id"], r["char_start"]))
