import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq

from transforms.ingest.parse import IngestConfig, doc_id_of, parse_source, title_from_name

CFG = IngestConfig()
NOVEL = "第一章 开端\n话说天下大势，分久必合，合久必分。\n" * 20


def parse(name, raw, cfg=CFG):
    return list(parse_source(name, raw, cfg))


def only_reject(name, raw):
    out = parse(name, raw)
    assert len(out) == 1 and out[0][0] == "reject", out
    return out[0][1]


def test_txt_is_one_document_titled_from_the_file_name():
    [(kind, row)] = parse("books/三国演义.txt", NOVEL.encode())
    assert kind == "doc"
    assert row["title"] == "三国演义"
    assert row["text"] == NOVEL
    assert row["doc_id"] == doc_id_of(NOVEL)
    assert row["byte_length"] == len(NOVEL.encode())
    assert row["raw_char_length"] == len(NOVEL)
    assert row["encoding"] == "utf-8"


def test_identical_text_from_two_files_has_the_same_doc_id():
    a = parse("a.txt", NOVEL.encode("utf-8"))[0][1]
    b = parse("b.txt.gz", gzip.compress(NOVEL.encode("gb18030")))[0][1]
    assert a["doc_id"] == b["doc_id"] and a["encoding"] != b["encoding"]


def test_title_from_name_strips_compound_suffixes():
    assert title_from_name("x/水浒传.txt.gz") == "水浒传"
    assert title_from_name("x/list.jsonl") == "list"


def test_truncated_gzip_is_rejected_with_reason():
    whole = gzip.compress(NOVEL.encode())
    row = only_reject("cut.txt.gz", whole[: len(whole) // 2])
    assert row["reason"] == "truncated_gzip" and "cut off" in row["detail"]
    assert row["source"] == "cut.txt.gz" and row["byte_length"] == len(whole) // 2


def test_non_gzip_data_with_gz_name_is_rejected():
    assert only_reject("fake.txt.gz", b"this is not gzip at all")["reason"] == "bad_gzip"


def test_empty_and_binary_files_are_rejected():
    assert only_reject("e.txt", b"")["reason"] == "empty"
    assert only_reject("b.txt", bytes(range(256)) * 8)["reason"] == "binary"


def test_unsupported_suffix_is_rejected():
    assert only_reject("cover.jpg", b"\xff\xd8\xff")["reason"] == "unsupported_format"


def test_jsonl_good_and_bad_lines_each_become_one_record():
    lines = [
        json.dumps({"text": NOVEL, "title": "甲", "id": 7}, ensure_ascii=False),
        '{"text": "未闭合',
        json.dumps({"text": 42}),
        "",
        json.dumps({"title": "无正文"}, ensure_ascii=False),
        json.dumps(["not", "an", "object"]),
        json.dumps({"text": "   "}),
    ]
    out = parse("list.jsonl", "\n".join(lines).encode())
    kinds = [(k, r.get("reason"), r["locator"]) for k, r in out]
    assert kinds == [
        ("doc", None, "line 1 id=7"),
        ("reject", "malformed_json", "line 2"),
        ("reject", "text_not_string", "line 3"),
        ("reject", "missing_text", "line 5"),
        ("reject", "malformed_json", "line 6"),
        ("reject", "empty", "line 7"),
    ]
    assert out[0][1]["title"] == "甲"


def test_jsonl_gz_is_read():
    raw = gzip.compress(json.dumps({"text": NOVEL}, ensure_ascii=False).encode())
    [(kind, row)] = parse("list.jsonl.gz", raw)
    assert kind == "doc" and row["text"] == NOVEL and row["title"] == "list:line 1"


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def test_parquet_rows_become_documents_and_bad_rows_rejects():
    raw = _parquet(pa.table({"text": [NOVEL, None, ""], "title": ["甲", "乙", "丙"]}))
    out = parse("t.parquet", raw)
    assert [(k, r.get("reason"), r["locator"]) for k, r in out] == [
        ("doc", None, "row 1"), ("reject", "missing_text", "row 2"), ("reject", "empty", "row 3")
    ]


def test_parquet_without_text_column_or_corrupt_is_rejected():
    assert only_reject("t.parquet", _parquet(pa.table({"body": ["x"]})))["reason"] == "missing_text"
    assert only_reject("t.parquet", b"PAR1garbage")["reason"] == "bad_parquet"


def test_shared_corpus_is_ingested_without_rejects(shared_corpus):
    files = sorted(shared_corpus.glob("*/*.txt"))
    assert len(files) >= 80
    for path in files:
        out = parse(path.name, path.read_bytes())
        assert [k for k, _ in out] == ["doc"], (path, out[0][1].get("detail"))
        assert "\r" not in out[0][1]["text"]
