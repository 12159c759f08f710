"""`longlm build` names the hand-off where documents vanished when the accounting identity fails."""

from pipelines.build.run import document_trail


def _manifest(counters, documents_rows):
    return {"counters": counters, "files": [{"table": "documents", "rows": documents_rows},
                                            {"table": "examples", "rows": 999}]}


GOOD = {"ingest.documents": 10, "clean.docs_in": 10, "filter.kept": 9, "dedupe.input_docs": 9,
        "dedupe.kept": 6, "dedupe.exact_removed": 2, "dedupe.near_removed": 1, "segment.documents": 6}


def test_a_build_that_holds_has_no_gaps():
    trail, gaps = document_trail(_manifest(GOOD, 6))
    assert gaps == []
    assert trail.startswith("ingest.documents 10 -> clean.docs_in 10") and trail.endswith("documents rows 6")


def test_lost_documents_are_named_by_hand_off():
    lost = dict(GOOD, **{"dedupe.kept": 5, "segment.documents": 4})
    _, gaps = document_trail(_manifest(lost, 5))
    assert gaps == [
        "1 documents lost between dedupe.input_docs and dedupe.kept (6 expected, 5 arrived)",
        "1 documents lost between dedupe.kept and segment.documents (5 expected, 4 arrived)",
    ]
    _, gaps = document_trail(_manifest(GOOD, 4))
    assert gaps == ["2 documents lost between dedupe.kept and documents rows (6 expected, 4 arrived)"]
