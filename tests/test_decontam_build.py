"""`longlm build --decontaminate`, `build --base` with another eval set and `longlm decontam-check`, end to end
on the generated sample corpus."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.cli import main
from pipelines.corpus.sample import write_sample_corpus
from pipelines.corpus.verify import verify
from schemas.tables import DECONTAMINATED
from tests.decontam_texts import prose

BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1", "--quiet"]


def table(out: Path, name: str) -> list[dict]:
    parts = sorted((out / name).glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(p) for p in parts]).to_pylist() if parts else []


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A sample corpus, an eval set made of two of its stories (one kept in a novel, one that is a whole
    input file) plus an outline, and builds without and with --decontaminate."""
    tmp = tmp_path_factory.mktemp("decontam")
    write_sample_corpus(str(tmp / "raw"), docs=12, seed=5)
    novel = (tmp / "raw" / "novel001.txt").read_text(encoding="utf-8")
    paras = [p.strip() for p in novel.split("\n") if len(p.strip()) > 40]
    story = "".join(paras[4:7])
    whole = "\n".join(prose(random.Random(8), 6, 60, 140))  # a story no other input holds (dedupe keeps it)
    (tmp / "raw" / "the-story.txt").write_text(whole + "\n", encoding="utf-8")
    (tmp / "eval" / "outgen").mkdir(parents=True)
    (tmp / "eval" / "outgen" / "test.jsonl").write_text(
        json.dumps({"story": story, "outline": [p[:6] for p in paras[4:7]]}, ensure_ascii=False) + "\n"
        + json.dumps({"story": whole.replace("\n", "")}, ensure_ascii=False) + "\n", encoding="utf-8")
    (tmp / "eval" / "outgen" / "test.source").write_text("#".join(p[:6] for p in paras) + "\n", encoding="utf-8")
    plain = main(["build", "--input", f"{tmp}/raw/*", "--output", str(tmp / "plain"), *BEAM])
    rc = main(["build", "--input", f"{tmp}/raw/*", "--output", str(tmp / "dec"), *BEAM,
               "--decontaminate", f"{tmp}/eval/*/test.jsonl", "--decontaminate", f"{tmp}/eval/*/test.source"])
    assert (plain, rc) == (0, 0)
    return tmp, story, whole


def test_a_build_without_an_eval_set_records_and_writes_nothing_of_it(world):
    tmp, _, _ = world
    m = manifest(tmp / "plain")
    assert "decontaminate" not in m["config"] and "eval_set" not in m["config"]["fingerprints"]
    assert not any(k.startswith("decontaminate.") for k in m["counters"])
    assert not (tmp / "plain" / "decontaminated").exists()


def test_the_stories_are_gone_and_every_document_is_accounted_for(world):
    tmp, story, whole = world
    out = tmp / "dec"
    assert verify(str(out)).ok
    m = manifest(out)
    assert m["accounting"]["holds"]
    texts = {d["source"]: d["text"] for d in table(out, "documents")}
    assert "the-story.txt" not in texts and all(story[:40] not in t for t in texts.values())
    filtered = {r["source"]: r for r in table(out, "filtered")}
    assert filtered["the-story.txt"]["reason"] == "contaminated"
    plain = {d["source"]: d["text"] for d in table(tmp / "plain", "documents")}
    for source, text in texts.items():  # only novel001 changed, and only by the story's characters
        if source != "novel001.txt":
            assert text == plain[source]
    assert len(plain["novel001.txt"]) - len(texts["novel001.txt"]) >= len(story)


def test_every_removal_is_a_row_naming_its_item(world):
    tmp, _, _ = world
    rows = table(tmp / "dec", "decontaminated")
    assert {(r["source"], r["eval_file"], r["item_index"], r["doc_filtered"]) for r in rows} == {
        ("novel001.txt", "outgen/test.jsonl", 0, False), ("the-story.txt", "outgen/test.jsonl", 1, True)}
    assert all(set(r) == set(DECONTAMINATED.schema.names) and r["matched_ngrams"] > 0 for r in rows)
    c = manifest(tmp / "dec")["counters"]
    assert c["decontaminate.removals"] == len(rows) and c["decontaminate.docs_filtered"] == 1
    assert c["decontaminate.eval_items_too_short"] == 1  # the outline line of test.source
    assert c["decontaminate.chars_removed"] == sum(r["chars_removed"] for r in rows)


def test_the_eval_set_enters_the_version_by_content_not_path(world):
    tmp, _, _ = world
    m = manifest(tmp / "dec")
    files = m["config"]["fingerprints"]["eval_set"]["files"]
    assert [f["name"] for f in files] == ["outgen/test.jsonl", "outgen/test.source"]
    shutil.copytree(tmp / "eval", tmp / "moved")
    rc = main(["build", "--input", f"{tmp}/raw/*", "--output", str(tmp / "moved-out"), *BEAM,
               "--decontaminate", f"{tmp}/moved/*/test.*"])
    assert rc == 0 and manifest(tmp / "moved-out")["version_id"] == m["version_id"]
    assert m["version_id"] != manifest(tmp / "plain")["version_id"]


def test_decontam_check_audits_a_finished_corpus(world, tmp_path, capsys):
    tmp, _, _ = world
    pattern = f"{tmp}/eval/*/test.*"
    assert main(["decontam-check", str(tmp / "plain"), "--decontaminate", pattern,
                 "--output", str(tmp_path / "o.parquet")]) == 1
    printed = capsys.readouterr().out
    assert "outgen/test.jsonl: 2 items matched" in printed and "the-story.txt" in printed
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 2
    assert main(["decontam-check", str(tmp / "dec"), "--decontaminate", pattern]) == 0


def test_user_mistakes_stop_before_anything_is_written(world, capsys):
    tmp, _, _ = world
    (tmp / "bad.jsonl").write_text("{not json\n", encoding="utf-8")
    cases = [
        (["--decontaminate", f"{tmp}/bad.jsonl"], "bad.jsonl: line 1 is not JSON"),
        (["--decontaminate", f"{tmp}/nothing/*.jsonl"], "matched no files"),
        (["--base", str(tmp / "dec"), "--decontaminate", f"{tmp}/eval/*/test.jsonl"], "its base's evaluation set"),
        (["--base", str(tmp / "plain"), "--decontaminate", f"{tmp}/eval/*/test.*"], "without an evaluation set"),
    ]
    for k, (flags, message) in enumerate(cases):
        out = tmp / f"refused-{k}"
        assert main(["build", "--input", f"{tmp}/raw/novel002.txt", "--output", str(out), *BEAM, *flags]) == 2
        assert message in capsys.readouterr().err and not out.exists()
