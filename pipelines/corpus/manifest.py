"""Reading a built corpus's manifest.json: the one reader every command and build step uses.

(`train/corpus.py` has its own: `train/` never imports Beam.) Paths are any Beam FileSystems path.
"""

from __future__ import annotations

import json
from typing import Any

from apache_beam.io.filesystems import FileSystems

from schemas import manifest as mf
from transforms.config_base import ConfigError


def manifest_path(root: str) -> str:
    """ROOT/manifest.json."""
    return FileSystems.join(root.rstrip("/"), mf.MANIFEST_NAME)


def manifest_bytes(root: str) -> bytes:
    """The raw bytes of ROOT/manifest.json; raises what Beam's FileSystems raise when it cannot be read."""
    with FileSystems.open(manifest_path(root)) as f:
        return f.read()


def read_manifest(root: str, missing_ok: bool = False) -> dict[str, Any] | None:
    """ROOT/manifest.json parsed.

    Raises ConfigError naming the path when it is absent or not JSON; with `missing_ok`, returns
    None instead (e.g. "is there an earlier build here?")."""
    try:
        return json.loads(manifest_bytes(root))
    except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError and others
        if missing_ok:
            return None
        raise ConfigError(manifest_path(root), f"cannot read a corpus manifest: {e}") from e
