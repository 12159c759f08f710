"""The build output directory: what a build may leave in it, listing it, and clearing it for `--overwrite`.

A build refuses a non-empty output directory unless `--overwrite`; with it, every file an earlier
build (finished or not: a build that died before manifest.json leaves shards and temporaries) wrote
is deleted before the new build starts, so no stale shard can sit beside the new ones. Entries that
no build writes are never deleted: the build refuses instead, naming them.
"""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems

from schemas import manifest as mf
from transforms.config_base import ConfigError
from transforms.shard_writer import STAGING_PREFIX

#: Top-level entries a build (and `longlm report`) writes under its output directory.
BUILD_ENTRIES = ("documents", "rejects", "filtered", "duplicates", "signatures", "superseded", "vocab", "examples", "report",
                 mf.MANIFEST_NAME, mf.RUN_INFO_NAME)
#: Files in a build's tree that the manifest does not list, by design: itself, run.json, and
#: `longlm report`'s output (written after the build).
UNLISTED_BY_DESIGN = (mf.MANIFEST_NAME, mf.RUN_INFO_NAME, "report/")


def list_files(root: str) -> list[str]:
    """Every file under `root`, recursively, as sorted paths relative to `root` (any Beam file system)."""
    root = root.rstrip("/")
    try:
        if not FileSystems.exists(root):
            return []
        results = FileSystems.match([FileSystems.join(root, "**")])[0].metadata_list
    except Exception:  # noqa: BLE001 - a missing prefix on some file systems
        return []
    out = []
    for meta in results:
        if meta.path.endswith("/"):
            continue
        rel = meta.path[len(root):].lstrip("/") if meta.path.startswith(root) else meta.path
        out.append(rel)
    return sorted(out)


def _top(rel: str) -> str:
    return rel.split("/", 1)[0]


def is_build_entry(top: str) -> bool:
    """A top-level entry a build writes: one of BUILD_ENTRIES, or a writer's staging directory (left by a
    build that died before its writers finished)."""
    return top in BUILD_ENTRIES or top.startswith(STAGING_PREFIX)


def prepare_output(output: str, overwrite: bool) -> list[str]:
    """Make `output` ready for a build; returns the relative paths it deleted. Raises ConfigError.

    Empty or missing: nothing to do. Any entry no build writes: refused (with or without `overwrite`).
    Otherwise, without `overwrite`: refused, saying whether a finished or an unfinished build is there.
    With `overwrite`: every file under the build's own entries is deleted, manifest.json first.
    """
    existing = list_files(output)
    if not existing:
        return []
    foreign = sorted({_top(rel) for rel in existing if not is_build_entry(_top(rel))})
    if foreign:
        raise ConfigError("--output", f"'{output}' holds entries no build writes ({', '.join(foreign[:5])}), which "
                          "--overwrite would not delete either: move them or choose another directory")
    if not overwrite:
        what = ("holds a build (manifest.json)" if mf.MANIFEST_NAME in existing
                else f"holds an unfinished build (no manifest): {len(existing)} files")
        raise ConfigError("--output", f"'{output}' {what}; pass --overwrite to replace it")
    ordered = sorted(existing, key=lambda rel: (rel != mf.MANIFEST_NAME, rel))  # manifest first: never a stale one
    root = output.rstrip("/")
    for start in range(0, len(ordered), 1000):
        FileSystems.delete([FileSystems.join(root, rel) for rel in ordered[start:start + 1000]])
    staged = sorted({_top(rel) for rel in existing if _top(rel).startswith(STAGING_PREFIX)})
    for entry in (*BUILD_ENTRIES, *staged):  # empty directories left on file systems that have them
        path = FileSystems.join(root, entry)
        if FileSystems.exists(path) and not list_files(path):
            FileSystems.delete([path])
    return ordered


def unlisted_files(root: str, listed: set[str]) -> list[str]:
    """Files under `root` that neither the manifest (`listed`) nor UNLISTED_BY_DESIGN accounts for."""
    out = []
    for rel in list_files(root):
        if rel in listed or any(rel == u or (u.endswith("/") and rel.startswith(u)) for u in UNLISTED_BY_DESIGN):
            continue
        out.append(rel)
    return out


def remove_build(output: str) -> None:
    """Delete everything a build wrote under `output`, then `output` itself when nothing else is left."""
    prepare_output(output, overwrite=True)
    root = output.rstrip("/") or output
    if FileSystems.exists(root) and not list_files(root):
        FileSystems.delete([root])
