"""CleanDocuments on the FnApiRunner: kept documents, FILTERED rows and counters."""

from __future__ import annotations

import hashlib

import apache_beam as beam
from apache_beam.testing.util import assert_that, equal_to

from schemas.tables import DOCUMENTS, FILTERED, empty_row
from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig, FilterConfig
from transforms.cleaning.stage import CleanDocuments

GOOD = "\u3000\u3000他说：“今天的天气很好，我们出去走走吧。”她点了点头，拿起伞跟着他出了门。\n" + "\n".join(
    f"\u3000\u3000第{i}段：城外的河水涨了，渡口的船家说要等三天才能过河，众人只得在客店里住下。" for i in range(10)
)
TRADITIONAL = "我們說這個國家的歷史很長，後來他們都來了。" * 20
ADS = "本书来自www.xxx.com免费txt小说下载站\n手机用户请访问m.xxx.com阅读，更优质的阅读体验。"


def _doc(text: str, source: str) -> dict:
    row = empty_row(DOCUMENTS)
    row.update(
        doc_id=hashlib.blake2b(text.encode(), digest_size=16).hexdigest(),
        source=source,
        locator="",
        title=source.rsplit(".", 1)[0],
        encoding="utf-8",
        byte_length=len(text.encode()),
        raw_char_length=len(text),
        text=text,
    )
    return row


def test_clean_documents_outputs_kept_filtered_and_stats():
    docs = [
        _doc(GOOD + "www.abc.com", "good.txt"),
        _doc(ADS, "ads.txt"),
        _doc(TRADITIONAL, "trad.txt"),
        _doc("", "empty.txt"),
    ]
    clean_cfg = CleanConfig(traditional="drop")
    cleaner = Cleaner(clean_cfg)
    expected_text = cleaner.clean(docs[0]["text"]).text
    assert "www" not in expected_text

    with beam.Pipeline(runner="FnApiRunner") as p:
        result = p | beam.Create(docs) | CleanDocuments(clean_cfg, FilterConfig())
        kept = result.output("kept") | "KeptView" >> beam.Map(
            lambda d: (d["doc_id"], d["text"], d["char_length"], d["han_chars"], d["raw_char_length"], sorted(d))
        )
        assert_that(
            kept,
            equal_to(
                [
                    (
                        docs[0]["doc_id"],
                        expected_text,
                        len(expected_text),
                        sum(1 for ch in expected_text if "\u4e00" <= ch <= "\u9fff"),
                        len(docs[0]["text"]),
                        sorted(DOCUMENTS.schema.names),
                    )
                ]
            ),
            label="Kept",
        )
        filtered = result.output("filtered") | "FilteredView" >> beam.Map(
            lambda r: (list(r), r["source"], r["reason"], r["char_length"], r["raw_char_length"])
        )
        assert_that(
            filtered,
            equal_to(
                [
                    (FILTERED.schema.names, "ads.txt", "min_length", 0, len(ADS)),
                    (FILTERED.schema.names, "trad.txt", "traditional", len(TRADITIONAL), len(TRADITIONAL)),
                    (FILTERED.schema.names, "empty.txt", "min_length", 0, 0),
                ]
            ),
            label="Filtered",
        )
        totals = result.stats | beam.CombinePerKey(sum)
        picked = totals | beam.Filter(
            lambda kv: kv[0] in ("clean.docs_in", "filter.kept", "filter.filtered.min_length",
                                 "filter.filtered.traditional", "clean.hits.urls", "clean.hits.watermarks")
        )
        assert_that(
            picked,
            equal_to(
                [
                    ("clean.docs_in", 4),
                    ("filter.kept", 1),
                    ("filter.filtered.min_length", 2),
                    ("filter.filtered.traditional", 1),
                    ("clean.hits.urls", 3),
                    ("clean.hits.watermarks", 2),
                ]
            ),
            label="Stats",
        )
        removed = totals | beam.Filter(lambda kv: kv[0].startswith("clean.chars_removed.")) | beam.Map(lambda kv: kv[1])
        assert_that(
            removed | beam.CombineGlobally(lambda vs: all(v >= 0 for v in vs)),
            equal_to([True]),
            label="RemovedNonNegative",
        )


def test_filtered_value_and_threshold_are_floats_from_the_verdict():
    doc = _doc("他来了。", "short.txt")
    with beam.Pipeline(runner="FnApiRunner") as p:
        result = p | beam.Create([doc]) | CleanDocuments(CleanConfig(), FilterConfig(min_chars=50))
        assert_that(
            result.output("filtered") | beam.Map(lambda r: (r["reason"], r["value"], r["threshold"], r["title"], r["doc_id"])),
            equal_to([("min_length", 4.0, 50.0, "short", doc["doc_id"])]),
        )
