"""The evaluation set of a build (`--decontaminate GLOB`, `[decontaminate] files`), resolved at launch.

* :func:`eval_files` lists the files (names relative to each glob's base directory, as for `--input`);
* :func:`check_eval_files` parses them once before the pipeline is built, so an unreadable or malformed
  file stops the build with one line naming it (the stage reads them again inside the pipeline);
  :func:`load_eval_set` builds the index in this process (`longlm decontam-check`);
* :func:`eval_set_fingerprint` is what the manifest records under ``fingerprints.eval_set``: each file's
  name and sha256 and their digest. The globs themselves stay out of the version id
  (``schemas.manifest.PATH_KEYS``), the contents enter it;
* :func:`check_increment` refuses an increment whose evaluation set is not its base's.
"""

from __future__ import annotations

import logging
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipelines.build.inputs import glob_base
from schemas.manifest import FINGERPRINTS_KEY
from transforms.config_base import ConfigError
from transforms.decontam.digest import eval_files_record, eval_set_digest
from transforms.ingest.parse import InputFile

LOG = logging.getLogger("longlm.build")
#: What errors about the evaluation set name.
KEY = "--decontaminate"
EVAL_SET_KEY = "eval_set"


def _remote(pattern: str) -> bool:
    return FileSystems.get_scheme(pattern) not in (None, "file")


def match_eval_files(patterns: list[str]) -> list[InputFile]:
    """Every file `patterns` match, sorted by recorded name (the path relative to the glob's base directory;
    a name two globs share becomes the full path). Raises ConfigError for a glob that matches nothing."""
    seen: dict[str, InputFile] = {}
    for pattern in patterns:
        try:
            paths = [m.path for m in FileSystems.match([pattern])[0].metadata_list if not m.path.endswith("/")]
        except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError and others
            raise ConfigError(KEY, f"{pattern}: cannot list it: {e}") from e
        if not paths:
            raise ConfigError(KEY, f"{pattern}: matched no files")
        base = glob_base(pattern)
        for path in paths:
            name = (path[len(base):] if base and path.startswith(base) else path.rsplit("/", 1)[-1]).lstrip("/")
            seen.setdefault(path, InputFile(path=path, source=name))
    names = [f.source for f in seen.values()]
    files = [f if names.count(f.source) == 1 else InputFile(f.path, f.path) for f in seen.values()]
    return sorted(files, key=lambda f: (f.source, f.path))


def eval_files(cfg, dry_run: bool = False) -> list[InputFile]:
    """The evaluation files of `cfg` ([] when it has none). In a dry run remote globs are not listed."""
    patterns = list(cfg.decontaminate.files)
    if not patterns:
        return []
    if dry_run and any(_remote(p) for p in patterns):
        local = [p for p in patterns if not _remote(p)]
        listed = match_eval_files(local) if local else []
        return listed + [InputFile(p, p[len(glob_base(p)):] or p) for p in patterns if _remote(p)]
    return match_eval_files(patterns)


def check_eval_files(dcfg, files: list[InputFile]) -> dict[str, int]:
    """{file name: items} of the evaluation files, parsed once at launch (no n-grams: the stage computes
    those); raises ConfigError naming a file that cannot be read or parsed."""
    from transforms.decontam.readers import EvalFileError, read_items

    counts: dict[str, int] = {}
    try:
        for f in files:
            counts[f.source] = sum(1 for _ in read_items(f.path, f.source, dcfg))
    except EvalFileError as e:
        raise ConfigError(KEY, str(e)) from None
    LOG.info("decontaminate: %d evaluation items in %d files", sum(counts.values()), len(files))
    return counts


def load_eval_set(dcfg, files: list[InputFile]):
    """(EvalIndex, per-file counts) of the evaluation files, in this process (`longlm decontam-check`); raises
    ConfigError naming a file that cannot be read or parsed."""
    from transforms.decontam.evalset import read_eval_set
    from transforms.decontam.readers import EvalFileError
    from transforms.dedupe.keytext import make_converter

    try:
        return read_eval_set(files, dcfg, make_converter())
    except (EvalFileError, ValueError) as e:
        raise ConfigError(KEY, str(e)) from None


def eval_set_fingerprint(files: list[InputFile], dry_run: bool = False) -> dict[str, Any]:
    """{"digest", "files": [{"name", "sha256"}]} of the evaluation files (remote ones unread in a dry run)."""
    if dry_run and any(_remote(f.path) for f in files):
        return {"digest": "(not read in a dry run)", "files": [{"name": f.source} for f in files]}
    try:
        record = eval_files_record(files)
    except OSError as e:
        raise ConfigError(KEY, f"cannot read an evaluation file: {e}") from None
    return {"digest": eval_set_digest(record), "files": record}


def recorded_eval_set(manifest: dict) -> dict | None:
    """The ``fingerprints.eval_set`` a manifest records (None: built without an evaluation set)."""
    return ((manifest.get("config") or {}).get(FINGERPRINTS_KEY) or {}).get(EVAL_SET_KEY)


def check_increment(base_manifest: dict, recorded_config: dict) -> None:
    """An increment removes exactly its base's evaluation text, or it is refused (ConfigError)."""
    base = recorded_eval_set(base_manifest)
    new = (recorded_config.get(FINGERPRINTS_KEY) or {}).get(EVAL_SET_KEY)
    base_digest, new_digest = (base or {}).get("digest"), (new or {}).get("digest")
    if base_digest == new_digest:
        return
    names = ", ".join(f["name"] for f in (base or {}).get("files", [])) or "none"
    if base is None:
        why = f"was built without an evaluation set; this increment has {new_digest}"
    elif new is None:
        why = f"removed evaluation set {base_digest} ({names}); this increment has none"
    else:
        why = f"removed evaluation set {base_digest} ({names}); this increment's is {new_digest}"
    raise ConfigError(KEY, f"base {base_manifest.get('version_id')} {why}. An increment must decontaminate against "
                           "its base's evaluation set: pass --decontaminate with the base's files, or rebuild the base "
                           "with the new set")
