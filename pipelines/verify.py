"""`longlm verify DIR`: re-hash every file, re-count every table, re-check the accounting identity."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field

import pyarrow.parquet as pq
from apache_beam.io.filesystems import FileSystems

from schemas import manifest as mf
from schemas.tables import SCHEMA_VERSION, SCHEMA_VERSION_KEY


@dataclass
class VerifyReport:
    problems: list[str] = field(default_factory=list)
    checked_files: int = 0
    checked_rows: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def _read(path: str) -> bytes:
    with FileSystems.open(path) as f:
        return f.read()


def _check_file(root: str, record: dict, report: VerifyReport) -> int | None:
    """Check one file record; returns the rows actually in it (Parquet tables) or None."""
    path = FileSystems.join(root, record["path"])
    try:
        data = _read(path)
    except Exception as e:  # noqa: BLE001
        report.problems.append(f"{record['path']}: missing or unreadable ({e})")
        return None
    report.checked_files += 1
    digest = hashlib.sha256(data).hexdigest()
    if digest != record["sha256"]:
        report.problems.append(f"{record['path']}: sha256 {digest[:12]}... differs from manifest {record['sha256'][:12]}...")
    if len(data) != record["bytes"]:
        report.problems.append(f"{record['path']}: {len(data)} bytes, manifest says {record['bytes']}")
    if record.get("table") is None:
        return None
    try:
        pf = pq.ParquetFile(io.BytesIO(data))
        rows = sum(len(pf.read_row_group(i, columns=[pf.schema_arrow.names[0]])) for i in range(pf.num_row_groups))
        version = (pf.schema_arrow.metadata or {}).get(SCHEMA_VERSION_KEY, b"").decode()
    except Exception as e:  # noqa: BLE001
        report.problems.append(f"{record['path']}: not readable as Parquet ({e})")
        return None
    report.checked_rows += rows
    if rows != record["rows"]:
        report.problems.append(f"{record['path']}: {rows} rows, manifest says {record['rows']}")
    if version != SCHEMA_VERSION:
        report.problems.append(f"{record['path']}: schema version '{version}', expected '{SCHEMA_VERSION}'")
    return rows


def verify(root: str) -> VerifyReport:
    """Check a built corpus directory against its manifest. Never raises for a bad corpus: reports it."""
    report = VerifyReport()
    root = root.rstrip("/")
    try:
        manifest = json.loads(_read(FileSystems.join(root, mf.MANIFEST_NAME)))
    except Exception as e:  # noqa: BLE001
        report.problems.append(f"{mf.MANIFEST_NAME}: missing or not JSON ({e})")
        return report
    recounted: list[dict] = []
    for record in manifest.get("files", []):
        rows = _check_file(root, record, report)
        recounted.append({**record, "rows": rows if rows is not None else record.get("rows")})
    counted = mf.accounting(manifest["accounting"]["read"], mf.rows_per_table(recounted))
    if not counted["holds"]:
        report.problems.append(
            "accounting identity fails: read {read} != kept {kept} + rejected {rejected} + filtered {filtered}"
            " + duplicates {duplicates} = {sum}".format(**counted)
        )
    if counted != manifest["accounting"]:
        report.problems.append(f"accounting in manifest {manifest['accounting']} differs from recount {counted}")
    if manifest["accounting"]["read"] != manifest.get("counters", {}).get(mf.READ_COUNTER):
        report.problems.append("accounting.read differs from the ingest counter")
    expected_id = mf.version_id(manifest["config"], manifest["inputs"], manifest["schema_version"])
    if expected_id != manifest["version_id"]:
        report.problems.append(f"version_id {manifest['version_id']} does not match config+inputs ({expected_id})")
    return report
