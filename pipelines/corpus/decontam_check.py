"""`longlm decontam-check CORPUS --decontaminate GLOB`: which evaluation text a finished corpus still holds.

Reads CORPUS/manifest.json and its documents/ files one row group at a time (any version, local or
remote), runs the same pure functions as the build's decontaminate stage (:func:`transforms.decontam.rows.audit`)
with the corpus's recorded ``[decontaminate]`` knobs (defaults when it was built without one), and returns
DECONTAMINATED rows: what a build with these files would have removed. Nothing is rebuilt or changed.
"""

from __future__ import annotations

import dataclasses
import io
from collections import defaultdict
from dataclasses import dataclass
from typing import Iterator

from apache_beam.io.filesystems import FileSystems

from pipelines.build.decontam import load_eval_set, match_eval_files
from pipelines.corpus.manifest import read_manifest
from schemas.tables import DECONTAMINATED, DOCUMENTS
from transforms.atomic_files import write_atomically
from transforms.config_base import ConfigError
from transforms.decontam.config import DecontaminateConfig

COLUMNS = ["doc_id", "source", "locator", "text"]


@dataclass
class CheckResult:
    """The overlaps found, and the totals the command prints."""

    rows: list[dict]
    documents: int
    eval_items: int

    def per_file(self) -> dict[str, tuple[int, int, int]]:
        """eval file -> (items matched, stretches, characters)."""
        out: dict = defaultdict(lambda: [set(), 0, 0])
        for r in self.rows:
            f = out[r["eval_file"]]
            f[0].add(r["item_index"])
            f[1] += 1
            f[2] += r["chars_removed"]
        return {name: (len(v[0]), v[1], v[2]) for name, v in sorted(out.items())}

    def per_document(self) -> list[tuple[str, int, int, bool]]:
        """(source, stretches, characters, would be filtered), most characters first."""
        out: dict = defaultdict(lambda: [0, 0, False])
        for r in self.rows:
            d = out[r["source"] or r["doc_id"]]
            d[0] += 1
            d[1] += r["chars_removed"]
            d[2] = d[2] or bool(r["doc_filtered"])
        return sorted(((k, *v) for k, v in out.items()), key=lambda t: (-t[2], t[0]))


def recorded_config(manifest: dict, patterns: list[str]) -> DecontaminateConfig:
    """The corpus's [decontaminate] knobs (defaults when absent), with `patterns` as the files."""
    recorded = dict((manifest.get("config") or {}).get("decontaminate") or {})
    known = {f.name for f in dataclasses.fields(DecontaminateConfig)}
    cfg = DecontaminateConfig(**{k: v for k, v in recorded.items() if k in known and k != "files"}, files=list(patterns))
    cfg.validate()
    return cfg


def _documents(root: str, manifest: dict) -> Iterator[dict]:
    import pyarrow.parquet as pq

    for record in sorted((f for f in manifest.get("files", []) if f.get("table") == DOCUMENTS.name),
                         key=lambda f: f["path"]):
        with FileSystems.open(FileSystems.join(root, record["path"])) as f:
            pf = pq.ParquetFile(f)
            for group in range(pf.metadata.num_row_groups):
                yield from pf.read_row_group(group, columns=COLUMNS).to_pylist()


def check_corpus(root: str, patterns: list[str]) -> CheckResult:
    """The overlaps of the corpus in `root` with the evaluation files `patterns`. Raises ConfigError."""
    from transforms.decontam.rows import audit
    from transforms.dedupe.keytext import make_converter

    root = root.rstrip("/")
    manifest = read_manifest(root)
    cfg = recorded_config(manifest, patterns)
    index, counts = load_eval_set(cfg, match_eval_files(patterns))
    converter = make_converter()
    documents = 0

    def counted():
        nonlocal documents
        for doc in _documents(root, manifest):
            documents += 1
            yield doc

    rows = list(audit(counted(), index, cfg, converter))
    return CheckResult(rows, documents, sum(c["used"] for c in counts.values()))


def write_rows(rows: list[dict], path: str) -> None:
    """The rows as one Parquet file of the DECONTAMINATED schema at `path` (any Beam file system)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=DECONTAMINATED.schema), buf)
    try:
        write_atomically(path, buf.getvalue())
    except OSError as e:
        raise ConfigError("--output", f"cannot write {path}: {e}") from None
