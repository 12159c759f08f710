"""What differs between two corpus versions (`longlm diff A B`), from their manifests and their tables.

Reports config keys that differ, inputs added / removed / changed (by recorded source name), per
table the rows added / removed / changed by key (documents, rejects, filtered, duplicates,
examples/train, examples/validation, any other table the manifest lists), other files (the vocabulary),
package versions, and every counter side by side. Exit 0 when nothing differs, 1 otherwise, 2 when a
version cannot be read. `--json` prints the same as one JSON object.

Scale: rows are never all in memory. Each shard is sorted by its table's key (the shard writer's
contract), so a table is compared by a streaming merge join, batch by batch with pyarrow. When both
versions have the same shard count, shard i is compared with shard i (a key's shard depends only on
the key and the count) and pairs with equal sha256 are skipped unread; otherwise each version's shards
are merged into one sorted stream (one batch per shard in memory). Rows are compared through
per-column digests, so a changed row names its changed columns without holding two documents' text.
"""

from __future__ import annotations

import heapq
import json
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import groupby
from typing import Iterator

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from pipelines.corpus.manifest import read_manifest
from schemas.hashing import stable_digest
from schemas.tables import TABLES

#: Rows per pyarrow batch: small for documents (whole novels), larger for everything else.
BATCH_ROWS = {"documents": 16}
DEFAULT_BATCH_ROWS = 1024


# ---------------------------------------------------------------------------------------------
# Manifest-level differences


def flatten(d: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for k, v in d.items():
        name = f"{prefix}.{k}" if prefix else str(k)
        if isinstance(v, dict):
            out.update(flatten(v, name))
        else:
            out[name] = v
    return out


def side_by_side(a: dict, b: dict, missing=None) -> list[dict]:
    """[{"key", "a", "b"}] for every key of either dict whose values differ (`missing` for an absent key)."""
    return [{"key": k, "a": a.get(k, missing), "b": b.get(k, missing)}
            for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]


def input_differences(a: list[dict], b: list[dict]) -> dict:
    ia, ib = {i["source"]: i for i in a}, {i["source"]: i for i in b}
    fp = lambda i: {"bytes": i["bytes"], "sha256": i["sha256"]}  # noqa: E731
    return {
        "added": [dict(source=s, **fp(ib[s])) for s in sorted(set(ib) - set(ia))],
        "removed": [dict(source=s, **fp(ia[s])) for s in sorted(set(ia) - set(ib))],
        "changed": [{"source": s, "a": fp(ia[s]), "b": fp(ib[s])}
                    for s in sorted(set(ia) & set(ib)) if fp(ia[s]) != fp(ib[s])],
    }


def file_differences(a: list[dict], b: list[dict]) -> list[dict]:
    """Files (by path) missing on one side or with another sha256."""
    fa, fb = {f["path"]: f for f in a}, {f["path"]: f for f in b}
    return [{"path": p, "a": fa[p]["sha256"] if p in fa else None, "b": fb[p]["sha256"] if p in fb else None}
            for p in sorted(set(fa) | set(fb)) if (fa.get(p) or {}).get("sha256") != (fb.get(p) or {}).get("sha256")]


def manifest_differences(a: dict, b: dict) -> list[str]:
    """One line per manifest difference (top-level fields, config keys, inputs, files); [] when equal."""
    lines = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) == b.get(key):
            continue
        if key == "config":
            lines += [f"config.{d['key']}: {d['a']!r} -> {d['b']!r}"
                      for d in side_by_side(flatten(a.get(key) or {}), flatten(b.get(key) or {}))]
        elif key == "files":
            lines += [f"file {d['path']}: sha256 {d['a']} -> {d['b']}"
                      for d in file_differences(a.get(key) or [], b.get(key) or [])]
        elif key in ("counters", "packages"):
            lines += [f"{key}.{d['key']}: {d['a']!r} -> {d['b']!r}" for d in side_by_side(a.get(key) or {}, b.get(key) or {})]
        else:
            lines.append(f"{key}: {json.dumps(a.get(key), ensure_ascii=False)[:200]} -> "
                         f"{json.dumps(b.get(key), ensure_ascii=False)[:200]}")
    return lines


# ---------------------------------------------------------------------------------------------
# Row-level differences, streamed


@dataclass
class TableDiff:
    """Rows of one table in A and B, and the keys added, removed and changed (lists capped at `limit`)."""

    rows_a: int = 0
    rows_b: int = 0
    added: int = 0
    removed: int = 0
    changed: int = 0
    added_keys: list = field(default_factory=list)
    removed_keys: list = field(default_factory=list)
    changed_keys: list = field(default_factory=list)

    def note(self, kind: str, item, limit: int) -> None:
        setattr(self, kind, getattr(self, kind) + 1)
        keys = getattr(self, f"{kind}_keys")
        if not limit or len(keys) < limit:
            keys.append(item)

    @property
    def differs(self) -> bool:
        return bool(self.added or self.removed or self.changed)


def _digest(value) -> bytes:
    data = json.dumps(value, sort_keys=True, ensure_ascii=False, default=str).encode("utf-8")
    return stable_digest(data, bits=64)


def file_rows(root: str, path: str, key: str, batch_rows: int) -> Iterator[tuple]:
    """(key, row digest, ((column, digest), ...)) for every row of one Parquet file, in file order.

    Raises ValueError when the file is not sorted by `key` (a merge join would be wrong)."""
    full = FileSystems.join(root, path)
    with FileSystems.open(full, compression_type="uncompressed") as handle:
        pf = pq.ParquetFile(handle)
        previous = None
        for batch in pf.iter_batches(batch_size=batch_rows):
            for row in batch.to_pylist():
                k = row[key]
                if previous is not None and k < previous:
                    raise ValueError(f"{full}: rows are not sorted by {key} ({k!r} after {previous!r})")
                previous = k
                cols = tuple((c, _digest(v)) for c, v in row.items())
                yield k, stable_digest(b"".join(d for _, d in cols), bits=128), cols


def _grouped(rows: Iterator[tuple]) -> Iterator[tuple]:
    for k, group in groupby(rows, key=lambda r: r[0]):
        yield k, list(group)


def compare_streams(rows_a: Iterator[tuple], rows_b: Iterator[tuple], diff: TableDiff, limit: int) -> None:
    """Merge-join two key-sorted row streams into `diff`."""
    ga, gb = _grouped(rows_a), _grouped(rows_b)
    a, b = next(ga, None), next(gb, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            diff.rows_a += len(a[1])
            diff.note("removed", a[0], limit)
            a = next(ga, None)
        elif a is None or b[0] < a[0]:
            diff.rows_b += len(b[1])
            diff.note("added", b[0], limit)
            b = next(gb, None)
        else:
            diff.rows_a += len(a[1])
            diff.rows_b += len(b[1])
            if sorted(r[1] for r in a[1]) != sorted(r[1] for r in b[1]):
                diff.note("changed", {"key": a[0], "columns": _changed_columns(a[1], b[1])}, limit)
            a, b = next(ga, None), next(gb, None)


def _changed_columns(rows_a: list, rows_b: list) -> list[str]:
    if len(rows_a) != len(rows_b):
        return [f"rows with this key: {len(rows_a)} -> {len(rows_b)}"]
    cols_a = defaultdict(set)
    cols_b = defaultdict(set)
    for rows, cols in ((rows_a, cols_a), (rows_b, cols_b)):
        for r in rows:
            for c, d in r[2]:
                cols[c].add(d)
    return sorted(c for c in set(cols_a) | set(cols_b) if cols_a.get(c) != cols_b.get(c))


def _table_files(manifest: dict) -> dict[str, list[dict]]:
    """Parquet file records grouped by directory ("documents", "examples/train", ...), sorted by path."""
    out: dict[str, list[dict]] = defaultdict(list)
    for f in manifest.get("files", []):
        if f.get("table"):
            out[f["path"].rsplit("/", 1)[0]].append(f)
    return {d: sorted(fs, key=lambda f: f["path"]) for d, fs in sorted(out.items())}


def _key_of(files: list[dict]) -> str:
    spec = TABLES.get(files[0]["table"]) if files else None
    if spec is None:
        raise ValueError(f"unknown table {files[0]['table']!r}: no key to compare rows by")
    return spec.key


def table_difference(root_a: str, files_a: list[dict], root_b: str, files_b: list[dict], limit: int) -> TableDiff:
    diff = TableDiff()
    key = _key_of(files_a or files_b)
    batch = BATCH_ROWS.get((files_a or files_b)[0]["table"], DEFAULT_BATCH_ROWS)

    def merged(root, files):
        return heapq.merge(*(file_rows(root, f["path"], key, batch) for f in files), key=lambda r: r[0])

    if files_a and len(files_a) == len(files_b):
        for fa, fb in zip(files_a, files_b):
            if fa["sha256"] == fb["sha256"]:  # same bytes: same rows
                diff.rows_a += fa["rows"] or 0
                diff.rows_b += fb["rows"] or 0
                continue
            compare_streams(file_rows(root_a, fa["path"], key, batch), file_rows(root_b, fb["path"], key, batch),
                            diff, limit)
    else:
        compare_streams(merged(root_a, files_a), merged(root_b, files_b), diff, limit)
    return diff


# ---------------------------------------------------------------------------------------------
# The whole comparison


def compare(root_a: str, root_b: str, limit: int = 20) -> dict:
    """The whole difference between two corpus versions as a JSON-able dict ("identical": bool)."""
    root_a, root_b = root_a.rstrip("/"), root_b.rstrip("/")
    a, b = read_manifest(root_a), read_manifest(root_b)
    tables_a, tables_b = _table_files(a), _table_files(b)
    tables = {}
    for name in sorted(set(tables_a) | set(tables_b)):
        d = table_difference(root_a, tables_a.get(name, []), root_b, tables_b.get(name, []), limit)
        tables[name] = {k: getattr(d, k) for k in ("rows_a", "rows_b", "added", "removed", "changed",
                                                   "added_keys", "removed_keys", "changed_keys")}
    counters_a, counters_b = a.get("counters", {}), b.get("counters", {})
    out = {
        "a": {"dir": root_a, "version_id": a.get("version_id")},
        "b": {"dir": root_b, "version_id": b.get("version_id")},
        "config": side_by_side(flatten(a.get("config", {})), flatten(b.get("config", {}))),
        "inputs": input_differences(a.get("inputs", []), b.get("inputs", [])),
        "tables": tables,
        "files": file_differences([f for f in a.get("files", []) if not f.get("table")],
                                  [f for f in b.get("files", []) if not f.get("table")]),
        "packages": side_by_side(a.get("packages", {}), b.get("packages", {})),
        "counters": [{"name": k, "a": counters_a.get(k), "b": counters_b.get(k)}
                     for k in sorted(set(counters_a) | set(counters_b))],
        "chain": chain_difference(a, b),
    }
    out["identical"] = not (
        out["config"] or any(out["inputs"].values()) or out["files"] or out["packages"]
        or any(t["added"] or t["removed"] or t["changed"] for t in tables.values())
        or any(c["a"] != c["b"] for c in out["counters"])
    )
    return out


def chain_difference(a: dict, b: dict) -> dict:
    """Each version's bases (nearest first) and the chains' accounting terms side by side (docs/incremental.md)."""
    chain_a, chain_b = a.get("chain") or {}, b.get("chain") or {}
    return {"bases_a": [v["version_id"] for v in chain_a.get("versions", [])],
            "bases_b": [v["version_id"] for v in chain_b.get("versions", [])],
            "accounting": side_by_side(chain_a.get("accounting", {}), chain_b.get("accounting", {}))}


def render(d: dict, all_counters: bool = False) -> str:
    """The comparison as text for people."""
    lines = [f"A {d['a']['dir']} ({d['a']['version_id']})", f"B {d['b']['dir']} ({d['b']['version_id']})"]
    if d["identical"]:
        return "\n".join(lines + ["identical: same config, inputs, rows, files and counters"])
    lines.append(f"config: {len(d['config'])} keys differ")
    lines += [f"  {c['key']}: {c['a']!r} -> {c['b']!r}" for c in d["config"]]
    inp = d["inputs"]
    lines.append(f"inputs: {len(inp['added'])} added, {len(inp['removed'])} removed, {len(inp['changed'])} changed")
    lines += [f"  + {i['source']} ({i['bytes']} bytes, sha256 {i['sha256'][:12]})" for i in inp["added"]]
    lines += [f"  - {i['source']} ({i['bytes']} bytes, sha256 {i['sha256'][:12]})" for i in inp["removed"]]
    lines += [f"  ~ {i['source']}: {i['a']['bytes']} bytes sha256 {i['a']['sha256'][:12]} -> "
              f"{i['b']['bytes']} bytes sha256 {i['b']['sha256'][:12]}" for i in inp["changed"]]
    lines.append("tables (rows A -> B: added / removed / changed by key):")
    for name, t in d["tables"].items():
        lines.append(f"  {name}: {t['rows_a']} -> {t['rows_b']}: +{t['added']} -{t['removed']} ~{t['changed']}")
        lines += [f"    + {k}" for k in t["added_keys"]] + [f"    - {k}" for k in t["removed_keys"]]
        lines += [f"    ~ {c['key']} ({', '.join(c['columns'])})" for c in t["changed_keys"]]
        shown = len(t["added_keys"]) + len(t["removed_keys"]) + len(t["changed_keys"])
        if shown < t["added"] + t["removed"] + t["changed"]:
            lines.append(f"    ... {t['added'] + t['removed'] + t['changed'] - shown} more (--limit 0 lists all)")
    for f in d["files"]:
        lines.append(f"file {f['path']}: sha256 {(f['a'] or 'absent')[:12]} -> {(f['b'] or 'absent')[:12]}")
    lines += [f"package {p['key']}: {p['a']} -> {p['b']}" for p in d["packages"]]
    chain = d.get("chain") or {}
    if chain.get("bases_a") or chain.get("bases_b"):
        lines.append(f"chain: A on {' <- '.join(chain['bases_a']) or '(no base)'} | "
                     f"B on {' <- '.join(chain['bases_b']) or '(no base)'}")
    lines += [f"  chain {c['key']}: {c['a']} -> {c['b']}" for c in chain.get("accounting", [])]
    differing = [c for c in d["counters"] if c["a"] != c["b"]]
    lines.append(f"counters (A | B): {len(differing)} of {len(d['counters'])} differ")
    width = max((len(c["name"]) for c in d["counters"]), default=0)
    for c in d["counters"]:
        if all_counters or c["a"] != c["b"]:
            mark = "*" if c["a"] != c["b"] else " "
            lines.append(f" {mark} {c['name']:<{width}} {str(c['a']):>12} | {str(c['b']):<12}")
    return "\n".join(lines)
