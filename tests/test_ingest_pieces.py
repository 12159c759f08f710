"""Hostile input becomes counted rejects with the readable rest kept; big files are read as several pieces.

Each test writes small files, runs the Beam ingest (IngestFiles, in-process FnApiRunner) and checks
the ingest accounting: every record counted by `ingest.records` is exactly one document or one reject.
"""

from __future__ import annotations

import collections
import gzip
import json
import re
from pathlib import Path

import apache_beam as beam
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.ingest.parse import IngestConfig, InputFile, jsonl_ranges, parse_source, split_points
from transforms.ingest.stage import IngestFiles

NOVEL = "第一章 开端\n话说天下大势，分久必合，合久必分。\n" * 20
_SINKS: dict[str, list] = collections.defaultdict(list)


def _sink(element, key):
    _SINKS[key].append(element)


def ingest(paths: list[Path], cfg: IngestConfig = IngestConfig()) -> dict:
    """Run IngestFiles over `paths`; documents, rejects, inputs and summed stats, checked for the identity."""
    _SINKS.clear()
    files = [InputFile(path=str(p), source=p.name) for p in paths]
    with beam.Pipeline(runner="FnApiRunner", options=beam.options.pipeline_options.PipelineOptions(
            ["--direct_running_mode=in_memory"])) as p:
        out = p | beam.Create(files) | IngestFiles(cfg)
        for tag in ("documents", "rejects", "inputs", "stats"):
            _ = (out.stats if tag == "stats" else out.output(tag)) | f"Sink{tag}" >> beam.Map(_sink, tag)
    stats = collections.Counter()
    for name, n in _SINKS["stats"]:
        stats[name] += n
    got = {"docs": list(_SINKS["documents"]), "rejects": list(_SINKS["rejects"]),
           "inputs": list(_SINKS["inputs"]), "stats": stats}
    # the ingest accounting identity: every record read is one document or one reject
    assert stats["ingest.records"] == len(got["docs"]) + len(got["rejects"]) == stats["ingest.documents"] + sum(
        n for k, n in stats.items() if k.startswith("ingest.rejected."))
    return got


def by_locator(rows) -> dict:
    out = {(r["source"], r["locator"]): r for r in rows}
    assert len(out) == len(rows), "two records share a (source, locator)"
    return out


# --- hostile input, one kind per test --------------------------------------------------------------


def _parquet_with_corrupt_row_group(path: Path, groups: int = 3, rows: int = 4, bad: int = 1) -> None:
    texts = [f"{NOVEL}第{i}行" for i in range(groups * rows)]
    pq.write_table(pa.table({"text": texts, "title": [f"t{i}" for i in range(len(texts))]}), path,
                   row_group_size=rows, compression="NONE", use_dictionary=False, write_statistics=False)
    meta = pq.ParquetFile(path).metadata.row_group(bad).column(0)
    data = bytearray(path.read_bytes())
    start = meta.data_page_offset
    data[start:start + 32] = b"\xff" * 32  # the page header of the text column: unreadable
    path.write_bytes(bytes(data))


def test_corrupt_row_group_rejects_its_rows_and_keeps_the_others(tmp_path):
    path = tmp_path / "corrupt.parquet"
    _parquet_with_corrupt_row_group(path)
    got = ingest([path], IngestConfig(read_piece_mb=1e-6))  # one row group per piece
    docs, rejects = by_locator(got["docs"]), by_locator(got["rejects"])
    assert sorted(int(loc.split()[1]) for _, loc in docs) == [1, 2, 3, 4, 9, 10, 11, 12]
    assert sorted(int(loc.split()[1]) for _, loc in rejects) == [5, 6, 7, 8]  # 4 rows, from the footer
    for r in rejects.values():
        assert r["reason"] == "bad_row_group" and r["stage"] == "ingest" and r["exception"]
        assert "(row group 1, 4 rows)" in r["locator"]
    assert got["stats"]["ingest.records"] == 12 and got["stats"]["ingest.pieces"] == 3
    assert ingest([path])["stats"]["ingest.pieces"] == 1  # small row groups travel together
    # the same from the whole-file parser
    whole = list(parse_source("corrupt.parquet", path.read_bytes(), IngestConfig()))
    assert [k for k, _ in whole].count("reject") == 4 and len(whole) == 12


def test_deeply_nested_json_line_is_a_dead_letter_not_a_dead_job(tmp_path):
    path = tmp_path / "deep.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    lines = [json.dumps({"text": NOVEL + "甲"}, ensure_ascii=False), deep,
             json.dumps({"text": NOVEL + "乙"}, ensure_ascii=False)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    got = ingest([path])
    assert sorted(r["locator"] for r in got["docs"]) == ["line 1", "line 3"]
    [r] = got["rejects"]
    assert r["locator"] == "line 2" and r["reason"] == "exception" and r["stage"] == "ingest"
    assert r["exception"].startswith("RecursionError") and r["byte_length"] == len(deep)


def test_text_column_of_wrong_type_rejects_each_row(tmp_path):
    bad = tmp_path / "ints.parquet"
    pq.write_table(pa.table({"text": pa.array([1, 2, 3], pa.int64())}), bad)
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text("\n".join([json.dumps({"text": {"nested": "x"}}), json.dumps({"text": NOVEL}, ensure_ascii=False),
                                json.dumps({"text": [1, 2]})]), encoding="utf-8")
    got = ingest([bad, mixed])
    assert [(r["source"], r["locator"]) for r in got["docs"]] == [("mixed.jsonl", "line 2")]
    reasons = {(r["source"], r["locator"]): r["reason"] for r in got["rejects"]}
    assert reasons == {("ints.parquet", "row 1"): "text_not_string", ("ints.parquet", "row 2"): "text_not_string",
                       ("ints.parquet", "row 3"): "text_not_string", ("mixed.jsonl", "line 1"): "text_not_string",
                       ("mixed.jsonl", "line 3"): "text_not_string"}


def test_truncated_jsonl_gz_keeps_the_lines_before_the_cut(tmp_path):
    lines = [json.dumps({"text": f"{NOVEL}{i}"}, ensure_ascii=False) for i in range(40)]
    whole = gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 3 // 4])
    got = ingest([path], IngestConfig(read_piece_mb=0.001))
    kept = sorted(int(r["locator"].split()[1]) for r in got["docs"])
    assert kept == list(range(1, len(kept) + 1)) and 0 < len(kept) < 40  # a prefix of the lines, in order
    [r] = got["rejects"]
    assert r["reason"] == "truncated_gzip" and r["locator"] == f"line {len(kept) + 1}"
    assert got["inputs"][0]["bytes"] == path.stat().st_size


def test_undecodable_line_and_unreadable_file_are_counted(tmp_path):
    path = tmp_path / "latin.jsonl"
    path.write_bytes(b'{"text": "caf\xe9"}\n' + json.dumps({"text": NOVEL}, ensure_ascii=False).encode() + b"\n")
    got = ingest([path, tmp_path / "missing.txt"])
    assert [r["locator"] for r in got["docs"]] == ["line 2"]
    reasons = sorted((r["source"], r["reason"]) for r in got["rejects"])
    assert reasons == [("latin.jsonl", "undecodable"), ("missing.txt", "unreadable")]


# --- no file is one giant element ------------------------------------------------------------------


def test_jsonl_ranges_cover_the_file_in_whole_lines():
    data = b"".join(f'{{"n": {i}, "pad": "{"x" * (i % 37)}"}}\n'.encode() for i in range(2000)) + b'{"last": 1}'
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    ranges = list(jsonl_ranges(chunks, 10_000))
    assert len(ranges) > 5 and ranges[0][:1] == (0,) and ranges[-1][1] == len(data)
    for (a, b, first), (c, _, nxt) in zip(ranges, ranges[1:]):
        assert b == c and data[b - 1:b] == b"\n" and b - a >= 10_000
        assert nxt == first + data[a:b].count(b"\n")  # line numbers carry over exactly
    assert list(jsonl_ranges([data], 10_000)) == ranges  # chunking does not move the cuts


@pytest.mark.parametrize("compressed", [False, True])
def test_multi_mb_jsonl_is_read_as_several_pieces(tmp_path, compressed):
    lines = [json.dumps({"text": f"{NOVEL}{i}", "id": i}, ensure_ascii=False) for i in range(2500)]
    lines[1234] = "{broken"
    raw = ("\n".join(lines) + "\n").encode()
    assert len(raw) > 3_000_000
    path = tmp_path / ("big.jsonl.gz" if compressed else "big.jsonl")
    path.write_bytes(gzip.compress(raw, mtime=0) if compressed else raw)
    got = ingest([path], IngestConfig(read_piece_mb=0.5))
    assert got["stats"]["ingest.pieces"] >= 6
    locators = [int(re.match(r"line (\d+)", r["locator"]).group(1)) for r in got["docs"] + got["rejects"]]
    assert sorted(locators) == list(range(1, 2501))  # every line exactly once, numbered across pieces
    assert [r["locator"] for r in got["rejects"]] == ["line 1235"]
    doc = next(r for r in got["docs"] if r["locator"] == "line 2000 id=1999")
    assert doc["text"] == f"{NOVEL}1999"
    assert got["inputs"] == [{"source": path.name, "bytes": path.stat().st_size,
                              "sha256": __import__("hashlib").sha256(path.read_bytes()).hexdigest()}]


def _long_novel(chapters: int = 30) -> str:
    body = "他走进山门，看见一个老僧坐在石上。老僧问他从何处来。\n" * 60
    return "".join(f"第{i + 1}章 山门\n{body}" for i in range(chapters))


def test_split_points_cut_at_chapter_headings_then_sentences():
    text = _long_novel()
    parts = split_points(text, 10_000)
    assert len(parts) >= 5 and parts[0][0] == 0 and parts[-1][1] == len(text)
    assert all(b - a <= 10_000 for a, b, _ in parts) and all(b == c for (_, b, _), (c, _, _) in zip(parts, parts[1:]))
    assert all(text[a:].startswith("第") for a, _, _ in parts)  # every part starts at a heading
    assert {how for *_, how in parts[:-1]} == {"heading"}
    no_headings = "一句话说完了。" * 5000
    cuts = split_points(no_headings, 10_000)
    assert all(no_headings[b - 1] == "。" for _, b, _ in cuts) and {h for *_, h in cuts[:-1]} == {"sentence"}
    assert split_points("短", 10_000) == [(0, 1, "whole")]


def test_txt_over_max_document_chars_becomes_part_documents(tmp_path):
    text = _long_novel()
    path = tmp_path / "长篇.txt"
    path.write_bytes(text.encode("gb18030"))
    small = tmp_path / "短篇.txt"
    small.write_text(NOVEL, encoding="utf-8")
    got = ingest([path, small], IngestConfig(max_document_chars=10_000))
    parts = sorted((r for r in got["docs"] if r["source"] == path.name), key=lambda r: int(r["locator"].split()[1].split("/")[0]))
    n = len(parts)
    assert n >= 5 and got["stats"]["ingest.text_parts"] == n and got["stats"]["ingest.records"] == n + 1
    assert got["stats"]["ingest.pieces"] == n + 1  # each part is its own element, spread by the reshuffle
    assert "".join(r["text"] for r in parts) == text
    for k, r in enumerate(parts, start=1):
        m = re.fullmatch(rf"part {k}/{n} chars (\d+)-(\d+)", r["locator"])
        assert m and text[int(m.group(1)):int(m.group(2))] == r["text"]
        assert r["title"] == f"长篇 ({k}/{n})" and r["encoding"] == "gb18030"
        assert r["byte_length"] == len(r["text"].encode("gb18030"))
    [whole] = [r for r in got["docs"] if r["source"] == small.name]
    assert whole["locator"] == "" and whole["text"] == NOVEL


# --- the whole build over hostile input ------------------------------------------------------------


@pytest.mark.slow
def test_build_over_hostile_input_accounts_for_every_record(tmp_path):
    from pipelines.cli import main
    from pipelines.corpus.sample import write_sample_corpus
    from pipelines.corpus.verify import verify

    raw = tmp_path / "raw"
    write_sample_corpus(str(raw), docs=8, seed=5)
    _parquet_with_corrupt_row_group(raw / "corrupt.parquet")
    deep = "[" * 100_000 + "]" * 100_000
    (raw / "deep.jsonl").write_text("\n".join([json.dumps({"text": _long_novel(2)}, ensure_ascii=False), deep]) + "\n",
                                    encoding="utf-8")
    (raw / "big.txt").write_text(_long_novel(30), encoding="utf-8")
    cfg = tmp_path / "corpus.toml"
    cfg.write_text("[ingest]\nmax_document_chars = 10000\n[output]\ndocuments_shards = 2\nexamples_shards = 2\n")
    out = tmp_path / "out"
    assert main(["build", "--input", f"{raw}/*", "--output", str(out), "--config", str(cfg),
                 "--direct_running_mode=in_memory", "--direct_num_workers=1"]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["accounting"]["holds"] and verify(str(out)).ok

    def rows(name):
        return [r for p in sorted((out / name).glob("part-*.parquet")) for r in pq.read_table(p).to_pylist()]

    rejects = {(r["source"], r["locator"]): r for r in rows("rejects")}
    assert sum(r["reason"] == "bad_row_group" for r in rejects.values()) == 4
    assert rejects[("deep.jsonl", "line 2")]["exception"].startswith("RecursionError")
    # the readable rest: every other record of the hostile files is kept, filtered or a duplicate, once
    elsewhere = collections.Counter((r["source"], r["locator"]) for name in ("documents", "filtered", "duplicates")
                                    for r in rows(name))
    readable = [("corrupt.parquet", f"row {i}") for i in (1, 2, 3, 4, 9, 10, 11, 12)] + [("deep.jsonl", "line 1")]
    assert all(elsewhere[key] == 1 for key in readable), {k: elsewhere[k] for k in readable}
    parts = [key for key in elsewhere if key[0] == "big.txt"]
    assert len(parts) >= 4 and all(loc.startswith("part ") for _, loc in parts)
    assert manifest["counters"]["ingest.text_parts"] == len(parts)
