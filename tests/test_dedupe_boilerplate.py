"""Cross-document boilerplate lines: found in >= K distinct documents, headings and dialogue kept."""

import glob
import json
import tempfile
import unicodedata

import apache_beam as beam

from transforms.cleaning.chars import normalize_line
from transforms.dedupe.boilerplate import RemoveBoilerplate, doc_line_keys, eligible_key, remove_lines
from transforms.dedupe.config import BoilerplateConfig
from transforms.dedupe.keytext import nfkc

CFG = BoilerplateConfig(min_docs=5, max_removed_fraction=1.0)  # tiny documents: no cap


def never_heading(line):
    return False


def _han(text):
    return sum(1 for ch in text if unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH"))


def test_normalize_line_folds_width_and_spaces():
    assert normalize_line(nfkc("  本章　完  \t")) == "本章 完"
    assert normalize_line(nfkc("ｗｗｗ．ｅｘａｍｐｌｅ．ｃｏｍ")) == "www.example.com"


def test_eligibility_rules():
    assert eligible_key("本章完", CFG, never_heading) is not None
    assert eligible_key("  本章完 ", CFG, never_heading) == eligible_key("本章完", CFG, never_heading)
    assert eligible_key("嗯嗯", CFG, never_heading) is None  # too short to matter
    assert eligible_key("“好的，走吧。”", CFG, never_heading) is None  # one quoted utterance
    assert eligible_key("第一回 宴桃园", CFG, lambda line: line.startswith("第")) is None


def test_remove_lines_counts_what_it_removes():
    text = "开头一句话。\n本章完\n中间一句话。\n本章完\n"
    keys = doc_line_keys(text, CFG, never_heading)
    target = {eligible_key("本章完", CFG, never_heading)}
    assert target <= keys
    out, removed = remove_lines(text, target, CFG, never_heading)
    assert removed == 2
    assert out == "开头一句话。\n中间一句话。\n"
    assert remove_lines(text, set(), CFG, never_heading) == (text, 0)


def test_remove_lines_never_guts_a_document():
    text = "开头一句话。\n本章完\n本章完\n本章完\n"
    target = {eligible_key("本章完", CFG, never_heading)}
    capped = BoilerplateConfig(min_docs=5, max_removed_fraction=0.5)
    assert remove_lines(text, target, capped, never_heading) == (text, -3)  # 12 of 19 chars: over the cap
    assert remove_lines(text, target, CFG, never_heading) == ("开头一句话。\n", 3)


def test_threshold_grows_with_the_corpus():
    from transforms.dedupe.boilerplate import doc_threshold

    cfg = BoilerplateConfig(min_docs=5, min_doc_fraction=0.001)
    assert doc_threshold(78, cfg) == 5
    assert doc_threshold(200_000, cfg) == 200


def _doc(i, lines):
    text = "\n".join(lines)
    return {"doc_id": f"{i:032x}", "text": text, "char_length": len(text), "han_chars": _han(text)}


def _run(docs, cfg):
    with tempfile.TemporaryDirectory() as out:
        with beam.Pipeline(runner="FnApiRunner") as p:
            kept, stats = p | beam.Create(docs) | RemoveBoilerplate(cfg)
            kept | beam.Map(json.dumps, ensure_ascii=False) | "wd" >> beam.io.WriteToText(out + "/docs")
            stats | "sj" >> beam.Map(json.dumps) | "ws" >> beam.io.WriteToText(out + "/stats")
        read = lambda prefix: [json.loads(x) for f in glob.glob(prefix + "*") for x in open(f, encoding="utf-8")]
        docs_out, stat_rows = read(out + "/docs"), read(out + "/stats")
    totals = {}
    for name, n in stat_rows:
        totals[name] = totals.get(name, 0) + n
    return {d["doc_id"]: d for d in docs_out}, totals


def test_lines_in_k_documents_are_removed_and_counted_per_document():
    ad, rare = "手机阅读请访问 www.example.com 最新章节", "本站域名已更换请收藏"
    docs = []
    for i in range(7):
        lines = ["第一回 开端", f"这是第{i}本书独有的一句正文，内容各不相同{i * 7}。", "嗯", "“好的。”"]
        if i < 5:
            lines.append(ad)  # in exactly K = 5 documents
        if i < 4:
            lines.append(rare)  # in K - 1 documents
        if i == 0:
            lines.append(ad)  # twice in one document: still one document, two removals
        docs.append(_doc(i, lines))
    out, stats = _run(docs, CFG)
    assert len(out) == 7
    for i, src in enumerate(docs):
        d = out[src["doc_id"]]
        expected_removed = (2 if i == 0 else 1) if i < 5 else 0
        assert d["boilerplate_lines_removed"] == expected_removed
        assert ad not in d["text"]
        assert ("第一回 开端" in d["text"]) and ("“好的。”" in d["text"]) and ("\n嗯\n" in d["text"])
        assert (rare in d["text"]) == (i < 4)
        assert d["char_length"] == len(d["text"]) and d["han_chars"] == _han(d["text"])
    assert stats["boilerplate.lines_removed"] == 6
    assert stats["boilerplate.docs_changed"] == 5
    # the ad line; the heading is protected by transforms.cleaning.headings, the rest are too short
    # or dialogue, and the rare line is below K
    assert stats["boilerplate.patterns"] == 1


def test_disabled_boilerplate_changes_nothing_but_sets_the_counter():
    docs = [_doc(i, ["本章完整的一句广告文字", f"正文{i}"]) for i in range(6)]
    out, stats = _run(docs, BoilerplateConfig(enabled=False))
    assert all(out[d["doc_id"]]["text"] == d["text"] for d in docs)
    assert all(out[d["doc_id"]]["boilerplate_lines_removed"] == 0 for d in docs)
    assert stats == {}
