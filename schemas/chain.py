"""Chains of incremental versions: finding a version's bases, and the chain's effective corpus.

`longlm build --base OLD` writes a version whose manifest's ``chain`` names its bases, nearest
first, by version id and manifest sha256 (content, so the manifest stays reproducible), and whose
``run.json`` records where the base was (``base_dir``, relative to the version when it can be).
:func:`open_chain` follows them, with a `read(path) -> bytes | None` supplied by the caller (Beam
FileSystems in the pipeline, plain files or fsspec in the trainer), so this module does no I/O itself.

The chain's *effective corpus*: every version's kept documents (and their examples) minus the
documents a later version lists in its ``superseded/`` table.
"""

from __future__ import annotations

import hashlib
import json
import posixpath
from dataclasses import dataclass
from typing import Callable

from schemas.manifest import CHAIN_TERMS, MANIFEST_NAME, RUN_INFO_NAME

Reader = Callable[[str], "bytes | None"]

#: run.json key holding where the base of an increment was when it was built.
BASE_DIR_KEY = "base_dir"


class ChainError(ValueError):
    """A base of the chain is missing, moved out of reach, or changed since the head was built."""


@dataclass(frozen=True)
class Version:
    """One version of a chain: where it is, its manifest and that manifest's bytes."""

    root: str
    manifest: dict
    raw: bytes

    @property
    def version_id(self) -> str:
        return self.manifest["version_id"]

    def files(self, table: str, subdir: str | None = None) -> list[str]:
        """Paths (under root, sorted) of the non-empty files of `table` (in `subdir`, default the table's)."""
        prefix = f"{subdir or table}/"
        return sorted(join(self.root, f["path"]) for f in self.manifest.get("files", [])
                      if f.get("table") == table and f["path"].startswith(prefix) and f.get("rows") != 0)


def join(root: str, relative: str) -> str:
    return f"{str(root).rstrip('/')}/{relative.lstrip('/')}"


def bases_of(manifest: dict) -> list[dict]:
    """The manifest's bases, nearest first: [{"version_id", "manifest_sha256"}]; [] for a full build."""
    return list((manifest.get("chain") or {}).get("versions") or [])


def base_location(root: str, base_dir: str) -> str:
    """Where `base_dir` (as run.json records it: relative to `root`, or absolute / a URL) is."""
    if "://" in base_dir or base_dir.startswith("/"):
        return base_dir
    if "://" in root:
        return posixpath.normpath(join(root, base_dir)).replace(":/", "://", 1)
    return posixpath.normpath(join(root, base_dir))


def _load(root: str, read: Reader) -> Version:
    raw = read(join(root, MANIFEST_NAME))
    if raw is None:
        raise ChainError(f"{join(root, MANIFEST_NAME)} not found")
    return Version(root.rstrip("/"), json.loads(raw), raw)


def open_chain(root: str, read: Reader, base_hint: str | None = None) -> list[Version]:
    """The chain of the version at `root`, head first. Each base is found where the run.json of the
    version above it says (`base_hint` for the head's base, e.g. a --base flag, wins) and must have the
    recorded version id and manifest sha256; ChainError (one line naming the version) otherwise."""
    head = _load(root, read)
    chain = [head]
    for expected in bases_of(head.manifest):
        below = chain[-1]
        if len(chain) == 1 and base_hint:
            where = base_hint.rstrip("/")
        else:
            hint = _run_info(below, read).get(BASE_DIR_KEY)
            if not hint:
                raise ChainError(f"{below.root} is built on {expected['version_id']}, and its run.json does not say "
                                 "where that version is")
            where = base_location(below.root, hint)
        try:
            version = _load(where, read)
        except (ChainError, ValueError) as e:
            raise ChainError(f"base {expected['version_id']} of {below.root} is not at {where}: {e}") from None
        if version.version_id != expected["version_id"]:
            raise ChainError(f"{where} holds {version.version_id}, not base {expected['version_id']} of {below.root}")
        if hashlib.sha256(version.raw).hexdigest() != expected["manifest_sha256"]:
            raise ChainError(f"{where}/{MANIFEST_NAME} (base {expected['version_id']}) changed since {head.root} "
                             "was built on it")
        chain.append(version)
    return chain


def _run_info(version: Version, read: Reader) -> dict:
    raw = read(join(version.root, RUN_INFO_NAME))
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        return {}


def chain_record(base_chain: list[Version]) -> dict:
    """The ``chain`` manifest field of a version built on `base_chain` (head first): its bases and the
    totals of their accounting, to which the new version's own terms are added (:func:`schemas.manifest.chain_accounting`)."""
    totals = dict((base_chain[0].manifest.get("chain") or {}).get("accounting") or {}) if base_chain else {}
    if base_chain and not totals:  # a base written before manifests had a chain field
        totals = dict(base_chain[0].manifest["accounting"])
    return {"versions": [{"version_id": v.version_id, "manifest_sha256": hashlib.sha256(v.raw).hexdigest()}
                         for v in base_chain],
            "accounting": {k: int(totals.get(k, 0)) for k in CHAIN_TERMS}}
