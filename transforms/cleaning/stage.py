"""The cleaning stage as a Beam PTransform: clean every document, filter, count.

    result = docs | CleanDocuments(cfg.clean, cfg.filter)     # a transforms.result.StageResult
    result.kept          # main: document dicts, text cleaned, char_length and han_chars set
    result.filtered      # FILTERED rows (doc_id, source, locator, title, reason, value, threshold, char_length, raw_char_length)
    result.stats         # (counter name, n): clean.docs_in, clean.hits.<rule>, clean.chars_removed.<rule>,
                         # filter.filtered.<reason>, filter.kept
    result.dead_letters  # documents that raised (they are rejects)
"""

from __future__ import annotations

from typing import Any, Iterator

import apache_beam as beam

from schemas.tables import FILTERED, make_row
from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig, FilterConfig
from transforms.cleaning.filters import FilterVerdict, quality_check
from transforms.dead_letters import DEAD_LETTERS, guarded
from transforms.documents import with_text
from transforms.result import StageResult
from transforms.stats import STATS, stat

#: Tag of the filtered-documents output.
FILTERED_TAG = "filtered"


def filtered_row(doc: dict[str, Any], verdict: FilterVerdict, cleaned_text: str) -> dict[str, Any]:
    """The FILTERED table row for `doc` (exactly the FILTERED columns)."""
    raw = doc.get("text") or ""
    raw_len = doc.get("raw_char_length")
    return make_row(
        FILTERED,
        doc_id=doc["doc_id"],
        source=doc.get("source"),
        locator=doc.get("locator"),
        title=doc.get("title"),
        reason=verdict.reason,
        value=float(verdict.value),
        threshold=float(verdict.threshold),
        char_length=len(cleaned_text),
        raw_char_length=int(raw_len) if raw_len is not None else len(raw),
    )


class CleanAndFilterFn(beam.DoFn):
    """Clean one document, run the quality filters, emit it on the main or the "filtered" output."""

    def __init__(self, clean_cfg: CleanConfig, filter_cfg: FilterConfig):
        self._clean_cfg = clean_cfg
        self._filter_cfg = filter_cfg
        self._cleaner: Cleaner | None = None

    def setup(self) -> None:
        self._cleaner = Cleaner(self._clean_cfg)

    @guarded("clean")
    def process(self, doc: dict[str, Any]) -> Iterator[Any]:
        assert self._cleaner is not None, "setup() was not called"
        raw = doc.get("text") or ""
        result = self._cleaner.clean(raw)
        yield stat("clean.docs_in")
        for rule in self._cleaner.rule_names:
            if rule in result.hits:
                yield stat(f"clean.hits.{rule}", result.hits[rule])
                yield stat(f"clean.chars_removed.{rule}", result.removed[rule])
        verdict = quality_check(raw, result, self._filter_cfg)
        if verdict is not None:
            yield stat(f"filter.filtered.{verdict.reason}")
            yield beam.pvalue.TaggedOutput(FILTERED_TAG, filtered_row(doc, verdict, result.text))
            return
        yield stat("filter.kept")
        yield with_text(doc, result.text)


class CleanDocuments(beam.PTransform):
    """Documents -> StageResult: main `kept` (cleaned documents), side `filtered` (FILTERED rows), stats, dead letters."""

    def __init__(self, clean_cfg: CleanConfig, filter_cfg: FilterConfig, label: str | None = None):
        super().__init__(label)
        clean_cfg.validate()
        filter_cfg.validate()
        self._clean_cfg = clean_cfg
        self._filter_cfg = filter_cfg

    def expand(self, docs):
        out = docs | "CleanAndFilter" >> beam.ParDo(CleanAndFilterFn(self._clean_cfg, self._filter_cfg)).with_outputs(
            FILTERED_TAG, STATS, DEAD_LETTERS, main="kept"
        )
        return StageResult(out.kept, "kept", side={FILTERED_TAG: out[FILTERED_TAG]}, stats=out[STATS],
                           dead_letters=out[DEAD_LETTERS])
