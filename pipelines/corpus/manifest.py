"""Reading a built corpus's manifest.json: the one reader every command and build step uses.

(`train/corpus.py` has its own: `train/` never imports Beam.) Paths are any Beam FileSystems path.
"""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from schemas import chain
from schemas import manifest as mf
from transforms.config_base import ConfigError


def manifest_path(root: str) -> str:
    """ROOT/manifest.json."""
    return FileSystems.join(root.rstrip("/"), mf.MANIFEST_NAME)


def manifest_bytes(root: str) -> bytes:
    """The raw bytes of ROOT/manifest.json; raises what Beam's FileSystems raise when it cannot be read."""
    with FileSystems.open(manifest_path(root)) as f:
        return f.read()


class NotABuild(ConfigError):
    """ROOT holds no finished build; the message says which case in one line:
    "ROOT: no such folder", "ROOT: not a build (no manifest.json)" (empty or foreign folder) or
    "ROOT: unfinished build (no manifest)" (an interrupted or failed build left its files)."""

    def __init__(self, root: str, what: str):
        ValueError.__init__(self, f"{root}: {what}")
        self.key = root


def no_build(root: str) -> NotABuild:
    """Why ROOT (which has no readable manifest.json) is not a finished build."""
    from pipelines.build.output_dir import is_build_entry, list_files

    root = root.rstrip("/") or root
    try:
        exists = FileSystems.exists(root)
    except Exception:  # noqa: BLE001 - a file system that cannot tell
        exists = True
    entries = list_files(root) if exists else []
    if not exists:
        return NotABuild(root, "no such folder")
    if entries and all(is_build_entry(rel.split("/", 1)[0]) for rel in entries):
        return NotABuild(root, "unfinished build (no manifest)")
    return NotABuild(root, "not a build (no manifest.json)")


def read_manifest(root: str, missing_ok: bool = False) -> dict[str, Any] | None:
    """ROOT/manifest.json parsed.

    Raises NotABuild (a ConfigError) when it is absent, naming the case, or not JSON; with
    `missing_ok`, returns None instead (e.g. "is there an earlier build here?")."""
    try:
        data = manifest_bytes(root)
    except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError and others
        if missing_ok:
            return None
        raise no_build(root) from e
    try:
        return json.loads(data)
    except ValueError as e:
        if missing_ok:
            return None
        raise NotABuild(manifest_path(root), f"not a corpus manifest (not JSON: {e})") from e


def read_bytes(path: str) -> bytes | None:
    """The bytes at any Beam FileSystems path, or None when nothing is there."""
    if not FileSystems.exists(path):
        return None
    with FileSystems.open(path, compression_type="uncompressed") as f:
        return f.read()


def read_chain(root: str, base_hint: str | None = None) -> list[chain.Version]:
    """The chain of versions of ROOT, ROOT first (a full build: ROOT alone), every base found and checked
    against the manifest sha256 its increment recorded (schemas.chain.open_chain). Raises ConfigError
    naming the version that cannot be found or changed."""
    try:
        return chain.open_chain(root.rstrip("/"), read_bytes, base_hint)
    except ValueError as e:  # ChainError, or a manifest that is not JSON
        raise ConfigError(root, str(e)) from e
