"""The document trail of a built corpus: per-stage document counts, and where documents went missing."""

from __future__ import annotations

#: (counter, what it counts) for the documents' path through the build, in order; each step's count
#: is the previous one's minus what the stage between them removed on purpose (counted).
_TRAIL = ("ingest.documents", "clean.docs_in", "filter.kept", "dedupe.input_docs", "dedupe.kept",
          "decontaminate.docs_in", "segment.documents")


def document_trail(manifest: dict) -> tuple[str, list[str]]:
    """(one line of per-stage document counts, the hand-offs where documents vanished uncounted).

    Every document a stage drops on purpose is counted (filtered, *_removed, rejected with the stage),
    so after dedupe `dedupe.input_docs = dedupe.kept + removed`, and both consumers of the kept
    documents (segmentation, the documents writer) must see `dedupe.kept` (with decontamination:
    `decontaminate.docs_in - decontaminate.docs_filtered`). A hand-off that comes up
    short lost documents between two stages, which no stage of ours does: it names where to look
    when the accounting identity fails.
    """
    c = manifest.get("counters", {})
    rows = sum(f["rows"] or 0 for f in manifest.get("files", []) if f.get("table") == "documents")
    removed = sum(v for k, v in c.items() if k.startswith("dedupe.") and k.endswith("_removed"))
    steps = [(name, c[name]) for name in _TRAIL if name in c] + [("documents rows", rows)]
    last, kept = "dedupe.kept", c.get("dedupe.kept")
    checks = [("filter.kept", "dedupe.input_docs", c.get("filter.kept")),
              ("dedupe.input_docs", "dedupe.kept", None if "dedupe.input_docs" not in c else c["dedupe.input_docs"] - removed)]
    if "decontaminate.docs_in" in c:  # built with --decontaminate: it filters documents left too short
        checks.append(("dedupe.kept", "decontaminate.docs_in", kept))
        last, kept = "decontaminate.docs_in", c["decontaminate.docs_in"] - c.get("decontaminate.docs_filtered", 0)
    checks += [(last, "segment.documents", kept), (last, "documents rows", kept)]
    arrived = dict(steps)
    gaps = [f"{want - arrived[name]} documents lost between {prev} and {name} ({want} expected, {arrived[name]} arrived)"
            for prev, name, want in checks if want is not None and name in arrived and arrived[name] < want]
    return " -> ".join(f"{name} {n}" for name, n in steps), gaps


def _reasons(counters: dict, prefix: str) -> str:
    found = sorted((k[len(prefix):], v) for k, v in counters.items() if k.startswith(prefix) and v)
    return ", ".join(f"{reason}: {n}" for reason, n in found)


def nothing_kept(manifest: dict) -> str:
    """'0 documents kept: 1 rejected (binary: 1), 2 filtered (min_length: 2), 3 duplicates' for a build
    that kept no document."""
    acc, counters = manifest["accounting"], manifest.get("counters", {})
    rejected = {k.split(".rejected.", 1)[1]: v for k, v in counters.items() if ".rejected." in k}
    parts = []
    if acc["rejected"]:
        reasons = ", ".join(f"{r}: {n}" for r, n in sorted(rejected.items()) if n)
        parts.append(f"{acc['rejected']} rejected" + (f" ({reasons})" if reasons else ""))
    if acc["filtered"]:
        reasons = _reasons(counters, "filter.filtered.")
        parts.append(f"{acc['filtered']} filtered" + (f" ({reasons})" if reasons else ""))
    if acc["duplicates"]:
        parts.append(f"{acc['duplicates']} duplicates")
    return "0 documents kept" + (": " + ", ".join(parts) if parts else f" of {acc['read']} read")


def first_rejects(root: str, n: int = 5) -> list[dict]:
    """The first `n` rows (source, locator, reason) of ROOT/rejects/, in file order; reads one batch only."""
    import pyarrow.parquet as pq
    from apache_beam.io.filesystem import CompressionTypes
    from apache_beam.io.filesystems import FileSystems

    rows: list[dict] = []
    pattern = FileSystems.join(root.rstrip("/"), "rejects", "*.parquet")
    for meta in sorted(FileSystems.match([pattern])[0].metadata_list, key=lambda m: m.path):
        with FileSystems.open(meta.path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
            for batch in pq.ParquetFile(f).iter_batches(batch_size=n - len(rows), columns=["source", "locator", "reason"]):
                rows += batch.to_pylist()
                break
        if len(rows) >= n:
            break
    return rows


def describe_rejects(root: str, n: int = 5) -> str:
    """'binary.txt (binary), novels.jsonl#line 3 (malformed_json), ...': the first `n` rejected inputs."""
    rows = first_rejects(root, n)
    return ", ".join(f"{r['source']}{'#' + r['locator'] if r['locator'] else ''} ({r['reason']})" for r in rows)
