"""The document trail of a built corpus: per-stage document counts, and where documents went missing."""

from __future__ import annotations

#: (counter, what it counts) for the documents' path through the build, in order; each step's count
#: is the previous one's minus what the stage between them removed on purpose (counted).
_TRAIL = ("ingest.documents", "clean.docs_in", "filter.kept", "dedupe.input_docs", "dedupe.kept", "segment.documents")


def document_trail(manifest: dict) -> tuple[str, list[str]]:
    """(one line of per-stage document counts, the hand-offs where documents vanished uncounted).

    Every document a stage drops on purpose is counted (filtered, *_removed, rejected with the stage),
    so after dedupe `dedupe.input_docs = dedupe.kept + removed`, and both consumers of the kept
    documents (segmentation, the documents writer) must see `dedupe.kept`. A hand-off that comes up
    short lost documents between two stages, which no stage of ours does: it names where to look
    when the accounting identity fails.
    """
    c = manifest.get("counters", {})
    rows = sum(f["rows"] or 0 for f in manifest.get("files", []) if f.get("table") == "documents")
    removed = sum(v for k, v in c.items() if k.startswith("dedupe.") and k.endswith("_removed"))
    steps = [(name, c[name]) for name in _TRAIL if name in c] + [("documents rows", rows)]
    checks = [("filter.kept", "dedupe.input_docs", c.get("filter.kept")),
              ("dedupe.input_docs", "dedupe.kept", None if "dedupe.input_docs" not in c else c["dedupe.input_docs"] - removed),
              ("dedupe.kept", "segment.documents", c.get("dedupe.kept")),
              ("dedupe.kept", "documents rows", c.get("dedupe.kept"))]
    arrived = dict(steps)
    gaps = [f"{want - arrived[name]} documents lost between {prev} and {name} ({want} expected, {arrived[name]} arrived)"
            for prev, name, want in checks if want is not None and name in arrived and arrived[name] < want]
    return " -> ".join(f"{name} {n}" for name, n in steps), gaps
