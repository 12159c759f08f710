"""The corpus a run reads, as its manifest states it: DIR/manifest.json, never a directory listing.

`longlm build` writes manifest.json last, listing every file it wrote (path relative to DIR, table,
rows, bytes, sha256) and the corpus `version_id`. The trainer reads exactly the example shards listed
there, so a stale shard left in DIR by an earlier build, or a half-written build with no manifest, can
never leak into training; and a run resumes only on the corpus version it started on.

The head of a chain of incremental versions (`longlm build --base`) stands for the whole chain: its
shards are those of every version of the chain, and `skip_doc_ids` are the documents later versions
superseded, whose examples the trainer skips (docs/incremental.md). Each base is found and checked
as schemas/chain.py says.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from schemas.chain import ChainError, Version, open_chain
from schemas.manifest import MANIFEST_NAME
from schemas.tables import EXAMPLES, SUPERSEDED

#: Where the sentencepiece model sits inside a corpus directory.
VOCAB_PATH = "vocab/spiece.model"


def is_url(path: str) -> bool:
    """True for fsspec-style URLs (gs://, s3://, file://, memory://...)."""
    return "://" in str(path)


def _join(root: str, relative: str) -> str:
    return f"{str(root).rstrip('/')}/{relative.lstrip('/')}"


def _read_bytes(path: str) -> bytes | None:
    """Bytes of a local path or fsspec URL; None when it does not exist."""
    if is_url(path):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        return fs.cat_file(inner) if fs.exists(inner) else None
    p = Path(path)
    return p.read_bytes() if p.is_file() else None


def _exists(path: str) -> bool:
    if is_url(path):
        import fsspec

        fs, inner = fsspec.core.url_to_fs(path)
        return fs.exists(inner)
    return Path(path).is_file()


@dataclass(frozen=True)
class Corpus:
    """A built corpus: its root, `version_id`, the manifest's file records and the manifest itself;
    `bases`: the versions below it in its chain, nearest first (none for a full build)."""

    root: str
    version_id: str
    files: tuple
    manifest: dict
    bases: tuple = ()

    def split_files(self, split: str) -> list[str]:
        """Paths of the examples shards of `split` that the manifests of the chain list: the oldest
        version's first, each version's sorted. Shards of superseded documents stay listed: skip
        their rows by :meth:`skip_doc_ids`."""
        versions = [*reversed(self.bases), Version(self.root, self.manifest, b"")]
        paths = [p for v in versions for p in v.files(EXAMPLES.name, f"{EXAMPLES.name}/{split}")]
        missing = [p for p in paths if not _exists(p)]
        if missing:
            raise FileNotFoundError(
                f"{len(missing)} shard(s) listed in {_join(self.root, MANIFEST_NAME)} are missing, e.g. {missing[0]}"
            )
        return paths

    def skip_doc_ids(self) -> frozenset:
        """doc_ids of the chain's documents that a later version superseded: their examples are not part
        of the chain's effective corpus. Empty for a full build (read from the small superseded/ tables)."""
        import pyarrow.parquet as pq

        out: set = set()
        for v in (Version(self.root, self.manifest, b""), *self.bases):
            for path in v.files(SUPERSEDED.name):
                raw = _read_bytes(path)
                if raw is None:
                    raise FileNotFoundError(f"{path} is listed in {v.root}/{MANIFEST_NAME} but missing")
                out.update(pq.read_table(_buffer(raw), columns=["doc_id"]).column("doc_id").to_pylist())
        return frozenset(out)

    def conventions(self) -> dict:
        """How the corpus's examples are meant to be fed (its [examples] config): `decoder_start_id` and the
        `continuation_sentinel` index N of <extra_id_N>. Corpora built before these keys existed used T5's 0, 0."""
        examples = (self.manifest.get("config") or {}).get("examples") or {}
        return {"decoder_start_id": int(examples.get("decoder_start_id", 0)),
                "continuation_sentinel": int(examples.get("continuation_sentinel", 0))}

    def vocab(self) -> bytes | None:
        """Bytes of DIR/vocab/spiece.model, or None when the corpus has none."""
        return _read_bytes(_join(self.root, VOCAB_PATH))


def open_corpus(data_dir: str) -> Corpus:
    """Read DIR/manifest.json (local path or fsspec URL); a clear error when it is absent or malformed."""
    path = _join(str(data_dir), MANIFEST_NAME)
    raw = _read_bytes(path)
    if raw is None:
        raise FileNotFoundError(
            f"{path} not found: {data_dir} is not a finished `longlm build` output (the manifest is written "
            "last, and the trainer reads only the shards it lists)"
        )
    try:
        manifest = json.loads(raw)
        version, files = manifest["version_id"], manifest["files"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not a corpus manifest ({exc!r})") from exc
    try:
        chain = open_chain(str(data_dir), _read_bytes)
    except ChainError as exc:
        raise FileNotFoundError(f"{data_dir} is the head of a chain of versions, and {exc}") from exc
    return Corpus(str(data_dir), str(version), tuple(files), manifest, tuple(chain[1:]))


def _buffer(raw: bytes):
    import pyarrow as pa

    return pa.BufferReader(raw)
