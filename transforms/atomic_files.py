"""Atomic, idempotent file writes through Beam FileSystems, safe when two attempts write the same file.

A runner may run two attempts of one bundle at once (a worker lost its lease while the first attempt
still runs, speculative execution). Each attempt therefore writes under its own temporary name
(`NAME.tmp-<random>`), hashes the bytes as they stream, and finalizes idempotently: if the final file
already holds the same sha256 it is left alone and the temporary is deleted; otherwise the temporary
is renamed over it (an atomic replace on POSIX, copy-then-delete on object stores). The final file is
never deleted first, so a reader sees either the earlier complete file or the new complete file.
A failed attempt deletes its temporary; only a killed process can leave one, and `longlm verify`
reports such files and `longlm build --overwrite` removes them.
"""

from __future__ import annotations

import hashlib
import uuid

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

#: Marker in the name of an attempt's temporary file.
TEMP_MARKER = ".tmp-"
#: Bytes read at a time when hashing a file.
HASH_CHUNK = 8 << 20


def sha256_of(path: str) -> tuple[str, int]:
    """(sha256 hex, byte count) of a file, read in fixed-size chunks (constant memory)."""
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type=CompressionTypes.UNCOMPRESSED) as f:
        while chunk := f.read(HASH_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class HashingSink:
    """A write-only binary file object that hashes and counts what passes through to `raw`."""

    def __init__(self, raw):
        self._raw, self._sha, self.bytes, self.closed = raw, hashlib.sha256(), 0, False

    def write(self, data) -> int:
        data = bytes(data)
        self._raw.write(data)
        self._sha.update(data)
        self.bytes += len(data)
        return len(data)

    def tell(self) -> int:
        return self.bytes

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False

    def seekable(self) -> bool:
        return False

    def close(self) -> None:  # the AtomicFile closes the raw handle; pyarrow may call this first
        self.closed = True

    @property
    def sha256(self) -> str:
        return self._sha.hexdigest()


def _delete_quietly(path: str) -> None:
    try:
        FileSystems.delete([path])
    except Exception:  # noqa: BLE001 - best effort: the temporary may already be gone
        pass


def finalize(tmp: str, path: str, sha256: str) -> None:
    """Move an attempt's finished temporary to `path`, idempotently (see the module docstring)."""
    if FileSystems.exists(path) and sha256_of(path)[0] == sha256:
        _delete_quietly(tmp)
        return
    try:
        FileSystems.rename([tmp], [path])
    except Exception:
        # A file system whose rename refuses to replace: fine if another attempt put the same bytes there.
        same = FileSystems.exists(path) and sha256_of(path)[0] == sha256
        _delete_quietly(tmp)
        if not same:
            raise


class AtomicFile:
    """`with AtomicFile(path) as f: f.write(...)`: `path` appears complete or not at all.

    After the block, `sha256` and `bytes` describe what was written. An exception inside the block
    deletes the temporary and leaves any earlier `path` untouched.
    """

    def __init__(self, path: str):
        self.path = path
        self.tmp = f"{path}{TEMP_MARKER}{uuid.uuid4().hex}"
        self.sha256: str | None = None
        self.bytes: int | None = None

    def __enter__(self) -> HashingSink:
        self._raw = FileSystems.create(self.tmp, compression_type=CompressionTypes.UNCOMPRESSED)
        self._sink = HashingSink(self._raw)
        return self._sink

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._raw.close()
        except Exception:
            _delete_quietly(self.tmp)
            if exc_type is None:
                raise
            return False
        if exc_type is not None:
            _delete_quietly(self.tmp)
            return False
        self.sha256, self.bytes = self._sink.sha256, self._sink.bytes
        finalize(self.tmp, self.path, self.sha256)
        return False


def write_atomically(path: str, data: bytes) -> str:
    """Write `data` to `path` atomically and idempotently; returns its sha256."""
    target = AtomicFile(path)
    with target as f:
        f.write(data)
    return target.sha256  # type: ignore[return-value]
