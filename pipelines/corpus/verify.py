"""`longlm verify DIR`: re-hash every file, re-count every table, re-check the accounting identity.

Constant memory: files are hashed in fixed-size chunks and Parquet row counts come from the footers,
so verifying a 120 GB corpus holds one chunk and one footer at a time. It also reports files in the
output tree that the manifest does not list (a stale shard, an attempt's leftover temporary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.parquet as pq
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from pipelines.build.output_dir import unlisted_files
from pipelines.corpus.manifest import read_chain, read_manifest
from schemas import manifest as mf
from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY
from transforms.atomic_files import sha256_of
from transforms.config_base import ConfigError


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    checked_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _footer(path: str) -> tuple[int, str]:
    """(rows, schema version) of a Parquet file, read from its footer only."""
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        meta = pq.ParquetFile(f).metadata
        version = (meta.metadata or {}).get(SCHEMA_VERSION_KEY, b"").decode()
        return meta.num_rows, version


def _check_file(root: str, record: dict, report: VerifyReport) -> int | None:
    """Check one file record; returns the rows actually in it (Parquet tables) or None."""
    path = FileSystems.join(root, record["path"])
    try:
        digest, size = sha256_of(path)
    except Exception as e:  # noqa: BLE001
        report.problems.append(f"{record['path']}: missing or unreadable ({e})")
        return None
    report.checked_files += 1
    if digest != record["sha256"]:
        report.problems.append(f"{record['path']}: sha256 {digest[:12]}... differs from manifest {record['sha256'][:12]}...")
    if size != record["bytes"]:
        report.problems.append(f"{record['path']}: {size} bytes, manifest says {record['bytes']}")
    if record.get("table") is None:
        return None
    try:
        rows, version = _footer(path)
    except Exception as e:  # noqa: BLE001
        report.problems.append(f"{record['path']}: not readable as Parquet ({e})")
        return None
    report.checked_rows += rows
    if rows != record["rows"]:
        report.problems.append(f"{record['path']}: {rows} rows, manifest says {record['rows']}")
    if version != SCHEMA_VERSION:
        report.problems.append(f"{record['path']}: schema version '{version}', expected '{SCHEMA_VERSION}'")
    return rows


def _check_writers(manifest: dict, recounted: list[dict], report: VerifyReport) -> None:
    """The writers' own check (rows counted upstream vs written), and the recount against its totals."""
    writers = manifest.get("writers")
    if writers is None:
        return
    for line in writers.get("short", []):
        report.problems.append(f"writer came up short: {line}")
    written: dict[str, int] = {}
    for record in recounted:
        if record.get("table") and record.get("rows") is not None:
            directory = record["path"].rsplit("/", 1)[0]
            written[directory] = written.get(directory, 0) + record["rows"]
    for directory, expected in writers.get("rows_expected", {}).items():
        if written.get(directory, 0) != expected:
            report.problems.append(f"{directory}/: files hold {written.get(directory, 0)} rows, "
                                   f"{expected} were counted before the writer")


def verify_chain(root: str) -> VerifyReport:
    """:func:`verify` of `root` and of every base of its chain (each found where its increment's run.json
    says, with the manifest sha256 the increment recorded); problems of a base name it."""
    report = verify(root)
    if any(p.startswith(f"{mf.MANIFEST_NAME}:") for p in report.problems):
        return report  # no manifest to follow
    try:
        versions = read_chain(root)
    except ConfigError as e:
        report.problems.append(f"chain: {e}")
        return report
    for version in versions[1:]:
        below = verify(version.root)
        report.problems += [f"base {version.version_id} ({version.root}): {p}" for p in below.problems]
        report.checked_files += below.checked_files
        report.checked_rows += below.checked_rows
    chain = versions[0].manifest.get("chain")
    if chain is not None and not chain["accounting"].get("holds"):
        report.problems.append("chain accounting identity fails: {}".format(chain["accounting"]))
    return report


def verify(root: str) -> VerifyReport:
    """Check a built corpus directory against its manifest. Never raises for a bad corpus: reports it."""
    report = VerifyReport()
    root = root.rstrip("/")
    try:
        manifest = read_manifest(root)
    except ConfigError as e:  # no build there, or a manifest that is not JSON: the reader says which
        report.problems.append(str(e))
        return report
    recounted: list[dict] = []
    for record in manifest.get("files", []):
        rows = _check_file(root, record, report)
        recounted.append({**record, "rows": rows if rows is not None else record.get("rows")})
    for rel in unlisted_files(root, {r["path"] for r in manifest.get("files", [])}):
        report.problems.append(f"{rel}: in the output tree but not in the manifest (stale or leftover file)")
    _check_writers(manifest, recounted, report)
    counted = mf.accounting(manifest["accounting"]["read"], mf.rows_per_table(recounted))
    if not counted["holds"]:
        report.problems.append(
            "accounting identity fails: read {read} != kept {kept} + rejected {rejected} + filtered {filtered}"
            " + duplicates {duplicates} = {sum}".format(**counted)
        )
    if "superseded" not in manifest["accounting"]:  # a manifest written before chains
        counted.pop("superseded")
    if counted != manifest["accounting"]:
        report.problems.append(f"accounting in manifest {manifest['accounting']} differs from recount {counted}")
    if manifest["accounting"]["read"] != manifest.get("counters", {}).get(mf.READ_COUNTER):
        report.problems.append("accounting.read differs from the ingest counter")
    expected_id = mf.version_id(manifest["config"], manifest["inputs"], manifest["schema_version"])
    if expected_id != manifest["version_id"]:
        report.problems.append(f"version_id {manifest['version_id']} does not match config+inputs ({expected_id})")
    return report
