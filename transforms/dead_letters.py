"""Dead letters, not dead jobs: an exception a stage raises for one document rejects that document.

:func:`guarded` wraps a DoFn's ``process``: the outputs for one element are held until it returns,
and if it raises (MemoryError aside: the runner retries that), they are dropped and one dead letter (a dict naming the document, the stage and
the exception) goes to the ``DEAD_LETTERS`` output instead, with a ``<stage>.dead_letters`` counter.
The build turns dead letters into ``rejects/`` rows (reason ``exception``), so the accounting
identity still holds: a document that fails in clean is never kept nor filtered; one that fails in
segment or examples is written to ``rejects/`` instead of ``documents/`` and none of its examples
are written (:class:`RejectFailed`).
"""

from __future__ import annotations

import functools

import apache_beam as beam

from transforms.rejects import RejectReason, describe_exception, make_reject
from transforms.stats import stat

#: Tagged output of every guarded DoFn.
DEAD_LETTERS = "dead_letters"
#: Stages in pipeline order: when one document fails in several, the earliest is reported.
STAGE_ORDER = ("ingest", "clean", "segment", "examples")


def dead_letter(stage: str, element, error: BaseException) -> dict:
    """The dead letter for `element` (a document or segment dict) that raised `error` in `stage`."""
    doc = element if isinstance(element, dict) else {}
    return {
        "doc_id": doc.get("doc_id"),
        "source": doc.get("source"),
        "locator": doc.get("locator"),
        "byte_length": doc.get("byte_length"),
        "segment_index": doc.get("segment_index"),
        "stage": stage,
        "exception": describe_exception(error),
    }


def guarded(stage: str):
    """Decorator for ``DoFn.process(self, element, ...)``: an exception for one element becomes a dead letter."""

    def decorate(process):
        @functools.wraps(process)
        def wrapped(self, element, *args, **kwargs):
            try:
                return list(process(self, element, *args, **kwargs) or ())
            except MemoryError:
                raise  # not a property of the document: let the runner retry, maybe on a larger worker
            except Exception as e:  # noqa: BLE001 - that is the point
                return [beam.pvalue.TaggedOutput(DEAD_LETTERS, dead_letter(stage, element, e)),
                        stat(f"{stage}.dead_letters")]

        return wrapped

    return decorate


def _order(letter: dict) -> tuple:
    stage = letter["stage"]
    rank = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER)
    index = letter.get("segment_index")
    return (rank, -1 if index is None else int(index), letter["exception"])


def _earliest(letters) -> dict | None:
    letters = [d for d in letters if d is not None]
    return min(letters, key=_order) if letters else None


def reject_row(doc: dict, letter: dict) -> dict:
    """The REJECTS row for document `doc` (or the document fields a dead letter carries) and its dead letter."""
    where = "" if letter.get("segment_index") is None else f" (segment {letter['segment_index']})"
    detail = f"{letter['stage']} raised {letter['exception'].split(':', 1)[0]} on this document{where}"
    return make_reject(doc.get("source") or "", doc.get("locator") or "", RejectReason.EXCEPTION, detail,
                       int(doc.get("byte_length") or 0), stage=letter["stage"], exception=letter["exception"])


class _RejectFailed(beam.DoFn):
    def process(self, doc: dict, failed: dict):
        letter = failed.get(doc["doc_id"])
        if letter is None:
            yield doc
        else:
            yield beam.pvalue.TaggedOutput("rejects", reject_row(doc, letter))


class RejectFailed(beam.PTransform):
    """(documents, dead letters of later stages) -> ``.kept`` (documents with no dead letter) and
    ``.rejects`` (one REJECTS row per failed document, the earliest failure of each)."""

    def expand(self, pcolls):
        docs, letters = pcolls
        first = (
            letters
            | "ByDoc" >> beam.Map(lambda d: (d["doc_id"], d))
            | "EarliestFailure" >> beam.CombinePerKey(_earliest)
            | "DropEmpty" >> beam.Filter(lambda kv: kv[1] is not None)
        )
        return docs | "RejectFailed" >> beam.ParDo(_RejectFailed(), beam.pvalue.AsDict(first)).with_outputs(
            "rejects", main="kept"
        )


def drop_failed(rows, letters, label: str):
    """`rows` (anything with a doc_id) minus those of documents with a dead letter in `letters`."""
    ids = letters | f"{label}Ids" >> beam.Map(lambda d: (d["doc_id"], True))
    return rows | label >> beam.Filter(lambda row, failed: row["doc_id"] not in failed, beam.pvalue.AsDict(ids))
