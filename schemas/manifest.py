"""The manifest format: what `manifest.json` holds and how its derived fields are computed.

`manifest.json` is itself reproducible: everything in it is a function of the config, the input
bytes and the package versions. What varies between runs (wall time, host, runner) goes to
`run.json` beside it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Iterable

from schemas.tables import SCHEMA_VERSION, SUPERSEDED

MANIFEST_FORMAT = 1
MANIFEST_NAME = "manifest.json"
RUN_INFO_NAME = "run.json"

#: Tables whose row counts make up the accounting identity, and the name each takes in it.
ACCOUNTING_TABLES = {"documents": "kept", "rejects": "rejected", "filtered": "filtered", "duplicates": "duplicates"}
#: The stats counter that counts every record ingest read (documents + rejects).
READ_COUNTER = "ingest.records"


#: Config table holding content hashes and byte-changing versions (pipelines.build.fingerprints).
FINGERPRINTS_KEY = "fingerprints"
#: Config keys that name files whose *contents* the fingerprints hash: left out of the version id.
PATH_KEYS = (("vocab", "model_path"), ("clean", "patterns_file"), ("decontaminate", "files"))


def _hashed_config(config: dict[str, Any]) -> dict[str, Any]:
    """The config as the version id sees it: with fingerprints present, the file path keys are left
    out (the files' contents are hashed in the fingerprints instead)."""
    if FINGERPRINTS_KEY not in config:
        return config
    out = dict(config)
    for table, key in PATH_KEYS:
        if isinstance(out.get(table), dict) and key in out[table]:
            out[table] = {k: v for k, v in out[table].items() if k != key}
    return out


def version_id(config: dict[str, Any], inputs: Iterable[dict[str, Any]], schema_version: str = SCHEMA_VERSION) -> str:
    """Corpus version id: a hash of the canonical config, the input fingerprints and the schema version.

    Input paths enter by their recorded (relative) source name, so the same files built from another
    directory or bucket get the same id. The config's ``fingerprints`` (content hashes of the vocab
    and patterns files, byte-changing package versions) are part of it; those files' paths are not.
    """
    fingerprints = sorted((i["source"], i["bytes"], i["sha256"]) for i in inputs)
    payload = json.dumps({"config": _hashed_config(config), "inputs": fingerprints, "schema": schema_version},
                         sort_keys=True)
    return "v" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def accounting(read: int, table_rows: dict[str, int]) -> dict[str, Any]:
    """The identity read = kept + rejected + filtered + duplicates, with each term and whether it holds."""
    terms = {name: int(table_rows.get(table, 0)) for table, name in ACCOUNTING_TABLES.items()}
    total = sum(terms.values())
    # superseded: documents of earlier versions of the chain this version removes from its effective
    # corpus (not read by this version, so not a term of its identity; see chain_accounting)
    return {"read": int(read), **terms, "sum": total, "holds": int(read) == total,
            "superseded": int(table_rows.get(SUPERSEDED.name, 0))}


#: Terms of a chain's accounting, summed over its versions (:func:`chain_accounting`).
CHAIN_TERMS = ("read", "kept", "superseded", "rejected", "filtered", "duplicates")


def chain_accounting(base_totals: dict, own: dict) -> dict:
    """The chain's identity: read = effective_kept + superseded + rejected + filtered + duplicates, each
    summed over the chain (`base_totals`: the bases' sums; `own`: this version's :func:`accounting`),
    where kept counts every version's kept documents and effective_kept = kept - superseded (what a
    reader of the chain gets). A full build is a chain of one: superseded 0, effective_kept = kept."""
    terms = {k: int(base_totals.get(k, 0)) + int(own.get(k, 0)) for k in CHAIN_TERMS}
    terms["effective_kept"] = terms["kept"] - terms["superseded"]
    total = sum(terms[k] for k in ("effective_kept", "superseded", "rejected", "filtered", "duplicates"))
    return {**terms, "sum": total, "holds": total == terms["read"]}


def file_record(path: str, data: bytes, table: str | None = None, rows: int | None = None) -> dict[str, Any]:
    """The manifest's record of one output file: path relative to the output root, table, rows, bytes, sha256."""
    return {"path": path, "table": table, "rows": rows, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def rows_per_table(files: Iterable[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in files:
        if f.get("table") and f.get("rows") is not None:
            out[f["table"]] = out.get(f["table"], 0) + int(f["rows"])
    return out


#: Keys the table writers add to a file record for the writer check; not part of the manifest's file list.
WRITER_CHECK_KEYS = ("expected_rows", "missing")


def writer_check(files: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Compare each shard's written rows with the rows counted for it upstream (`expected_rows`).

    Returns {"holds", "rows_expected" (per output directory), "short" (one line per shard that came
    up short, naming table and file)}.
    """
    expected: dict[str, int] = {}
    short: list[str] = []
    for f in files:
        if "expected_rows" not in f:
            continue
        directory = f["path"].rsplit("/", 1)[0]
        expected[directory] = expected.get(directory, 0) + int(f["expected_rows"])
        if f.get("missing"):
            short.append(f"table {f['table']}, shard {f['path']}: no file written, {f['expected_rows']} rows expected")
        elif f["rows"] != f["expected_rows"]:
            short.append(f"table {f['table']}, shard {f['path']}: wrote {f['rows']} rows, {f['expected_rows']} expected")
    return {"holds": not short, "rows_expected": dict(sorted(expected.items())), "short": sorted(short)}


def build_manifest(
    *,
    config: dict[str, Any],
    inputs: list[dict[str, Any]],
    files: list[dict[str, Any]],
    stats: dict[str, int],
    packages: dict[str, str],
    input_patterns: list[str],
    skipped_inputs: list[str] = (),
    chain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Assemble the manifest dict (sorted, so its JSON is byte-stable). `skipped_inputs`: sources the
    input patterns matched that are not of a supported type (never read, so not in `inputs`). `chain`: the
    bases of an increment and their accounting totals (schemas.chain.chain_record); None for a full build."""
    writers = writer_check(files)
    files = sorted(({k: v for k, v in f.items() if k not in WRITER_CHECK_KEYS} for f in files if not f.get("missing")),
                   key=lambda f: f["path"])
    inputs = sorted(inputs, key=lambda i: i["source"])
    own = accounting(stats.get(READ_COUNTER, 0), rows_per_table(files))
    return {
        "format": MANIFEST_FORMAT,
        "version_id": version_id(config, inputs),
        "schema_version": SCHEMA_VERSION,
        "config": config,
        "input_patterns": list(input_patterns),
        "inputs": inputs,
        "skipped_inputs": sorted(skipped_inputs),
        "packages": dict(sorted(packages.items())),
        "counters": dict(sorted(stats.items())),
        "accounting": own,
        "chain": {"versions": list((chain or {}).get("versions", [])),
                  "accounting": chain_accounting((chain or {}).get("accounting", {}), own)},
        "writers": writers,
        "files": files,
    }


def dumps(manifest: dict[str, Any]) -> bytes:
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
