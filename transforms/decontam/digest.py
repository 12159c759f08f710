"""The identity of an evaluation set: a digest of its files' contents (and recorded names), never their paths.

Enters the corpus version id, so the same LOT files copied elsewhere give the same id and a changed
file gives a new one. Files are streamed through apache_beam.io.filesystems.
"""

from __future__ import annotations

import hashlib

from apache_beam.io.filesystems import CompressionTypes, FileSystems

from schemas.hashing import stable_hex


def file_sha256(path: str) -> str:
    """sha256 hex of the bytes of `path` (read in 1 MiB chunks)."""
    digest = hashlib.sha256()
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def eval_files_record(files) -> list[dict]:
    """[{"name", "sha256"}] of InputFile-like `files` (path, source), sorted by name: what a manifest records."""
    return sorted(({"name": f.source, "sha256": file_sha256(f.path)} for f in files), key=lambda r: r["name"])


def eval_set_digest(record: list[dict]) -> str:
    """128-bit hex digest of an :func:`eval_files_record` (the empty set has a digest too)."""
    return stable_hex("eval-set", *(f"{r['name']}\t{r['sha256']}" for r in record))
