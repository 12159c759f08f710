"""Evaluation files in every format the benchmarks ship: items, their indexes, markers stripped, errors named."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.markers import segments, strip_markers
from transforms.decontam.readers import EvalFileError, file_format, read_items

CFG = DecontaminateConfig()


def items(path, name=None, cfg=CFG):
    return [(i.file, i.index, i.segments) for i in read_items(str(path), name or path.name, cfg)]


def test_markers_split_into_segments():
    text = "从前有座山<extra_id_1>山里有座庙<sep>庙里有个和尚[MASK]讲故事<MASK>完"
    assert segments(text) == ["从前有座山", "山里有座庙", "庙里有个和尚", "讲故事", "完"]
    assert segments("小狗#公园#  #玩耍") == ["小狗", "公园", "玩耍"]
    assert segments("[SEP]<EXTRA_ID_12></s>") == []
    assert strip_markers("甲<extra_id_0>乙") == "甲\n乙"


def test_source_and_target_files_are_one_item_per_line(tmp_path):
    src = tmp_path / "test.source"
    src.write_text("标题<extra_id_1>小狗#公园#玩耍\n\n第二个故事[MASK]结尾\n", encoding="utf-8")
    tgt = tmp_path / "test.target"
    tgt.write_text("\ufeff第一行故事<sep>续\r\n第二行\r\n", encoding="utf-8")
    assert items(src) == [
        ("test.source", 0, ("标题", "小狗", "公园", "玩耍")),
        ("test.source", 1, ()),  # a blank line keeps its index
        ("test.source", 2, ("第二个故事", "结尾")),
    ]
    assert items(tgt) == [("test.target", 0, ("第一行故事", "续")), ("test.target", 1, ("第二行",))]


def test_txt_is_one_item_per_line(tmp_path):
    path = tmp_path / "stories.txt"
    path.write_text("一\n二\n", encoding="utf-8")
    assert items(path, "set/stories.txt") == [("set/stories.txt", 0, ("一",)), ("set/stories.txt", 1, ("二",))]


def test_json_data_object_and_list(tmp_path):
    a = tmp_path / "a.json"
    a.write_text(json.dumps({"data": [{"story": "故事一", "title": "不读", "outline": ["x"]},
                                      {"text": "故事二", "plot": ["情节甲", "情节乙"]}]}, ensure_ascii=False),
                 encoding="utf-8")
    b = tmp_path / "b.json"
    b.write_text(json.dumps(["裸字符串", {"context": "上文[MASK]下文"}, 3], ensure_ascii=False), encoding="utf-8")
    assert items(a) == [("a.json", 0, ("故事一",)), ("a.json", 1, ("故事二", "情节甲", "情节乙"))]
    assert items(b) == [("b.json", 0, ("裸字符串",)), ("b.json", 1, ("上文", "下文")), ("b.json", 2, ())]


def test_jsonl_with_configured_fields(tmp_path):
    path = tmp_path / "lot.jsonl"
    rows = [{"story": "故事", "outline": ["甲", "乙"], "title": "题"}, {"body": "正文"}]
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n\n", encoding="utf-8")
    assert items(path) == [("lot.jsonl", 0, ("故事",)), ("lot.jsonl", 1, ()), ("lot.jsonl", 2, ())]
    cfg = DecontaminateConfig(text_fields=["body", "outline"])
    assert items(path, cfg=cfg) == [("lot.jsonl", 0, ("甲", "乙")), ("lot.jsonl", 1, ("正文",)),
                                    ("lot.jsonl", 2, ())]


def test_parquet_text_columns_by_row_group(tmp_path):
    path = tmp_path / "set.parquet"
    table = pa.table({"text": ["一", None, "三<sep>四"], "n": [1, 2, 3]})
    pq.write_table(table, path, row_group_size=2)
    assert items(path) == [("set.parquet", 0, ("一",)), ("set.parquet", 1, ()), ("set.parquet", 2, ("三", "四"))]


@pytest.mark.parametrize("name, content, message", [
    ("bad.jsonl", "{\"story\": 1}\n{oops\n", "line 2 is not JSON"),
    ("bad.json", "{\"rows\": []}", "expected"),
    ("bad.json", "not json", "is not JSON"),
    ("notes.docx", "x", "unsupported format"),
    ("bad.parquet", "not parquet", "cannot read as Parquet"),
])
def test_bad_files_name_the_file_and_the_reason(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(EvalFileError, match=message) as e:
        items(path)
    assert name in str(e.value)


def test_parquet_without_a_text_column_is_refused(tmp_path):
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"n": [1]}), path)
    with pytest.raises(EvalFileError, match="no string column"):
        items(path)


def test_json_over_the_size_limit_is_refused(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"data": ["故事" * 100]}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(EvalFileError, match="max_json_bytes"):
        items(path, cfg=DecontaminateConfig(max_json_bytes=50))


def test_formats_by_suffix():
    assert [file_format(n) for n in ("a.SOURCE", "b.target", "c.txt", "d.jsonl", "e.json", "f.parquet", "g.gz")] == [
        "lines", "lines", "lines", "jsonl", "json", "parquet", None]
