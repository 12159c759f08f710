"""The table rows decontamination writes, and the audit of finished documents (`longlm decontam-check`). Pure."""

from __future__ import annotations

from typing import Iterable, Iterator

from schemas.tables import DECONTAMINATED, FILTERED, make_row
from transforms.cleaning.chars import nonspace_count
from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.index import EvalIndex
from transforms.decontam.match import Decontaminated, decontaminate

#: Filter reason of a document that decontamination leaves too short.
CONTAMINATED = "contaminated"


def removal_rows(doc: dict, result, index: EvalIndex, filtered: bool) -> list[dict]:
    """The DECONTAMINATED rows of one document's removals."""
    rows = []
    for r in result.removals:
        eval_file, item_index = index.describe(r.item)
        rows.append(make_row(
            DECONTAMINATED, doc_id=doc["doc_id"], source=doc.get("source"), locator=doc.get("locator"),
            char_start=r.start, char_end=r.stop, chars_removed=r.stop - r.start, eval_file=eval_file,
            item_index=item_index, matched_ngrams=r.matched_ngrams, items_matched=r.items_matched,
            doc_filtered=filtered,
        ))
    return rows


def contaminated_row(doc: dict, remaining: int, threshold: int) -> dict:
    """The FILTERED row of a document decontamination left with `remaining` non-space characters."""
    raw_len = doc.get("raw_char_length")
    return make_row(
        FILTERED, doc_id=doc["doc_id"], source=doc.get("source"), locator=doc.get("locator"), title=doc.get("title"),
        reason=CONTAMINATED, value=float(remaining), threshold=float(threshold), char_length=len(doc["text"]),
        raw_char_length=int(raw_len) if raw_len is not None else len(doc["text"]),
    )


def audit(docs: Iterable[dict], index: EvalIndex, cfg: DecontaminateConfig, converter) -> Iterator[dict]:
    """DECONTAMINATED rows of what a build with `index` would remove from `docs` (document dicts with doc_id,
    source, locator, text); `doc_filtered` says whether the document would be left too short."""
    for doc in docs:
        result: Decontaminated = decontaminate(doc["text"], index, cfg, converter)
        if result.removals:
            filtered = nonspace_count(result.text) < cfg.min_remaining_chars
            yield from removal_rows(doc, result, index, filtered)
