"""Resolve `--input` globs and folders into the list of files a build reads, at launch time, through Beam FileSystems."""

from __future__ import annotations

import logging
import os
import re
from typing import NamedTuple

from apache_beam.io.filesystems import FileSystems

from transforms.config_base import ConfigError
from transforms.ingest.parse import SUPPORTED_SUFFIXES, InputFile

LOG = logging.getLogger("longlm.runners")

_GLOB_CHARS = re.compile(r"[*?\[]")


def glob_base(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard ('data/novels/*.txt' -> 'data/novels/')."""
    m = _GLOB_CHARS.search(pattern)
    literal = pattern[: m.start()] if m else pattern
    cut = literal.rfind("/")
    return literal[: cut + 1] if cut >= 0 else ""


class InputList(NamedTuple):
    """The files a build reads, and the sources of files it skips as not of a supported type."""

    files: list[InputFile]
    skipped: list[str]


class NothingToBuild(ConfigError):
    """The inputs hold no file of a supported type: exit 1, nothing written."""


def _is_local_folder(path: str) -> bool:
    return FileSystems.get_scheme(path) in (None, "file") and os.path.isdir(path)


def _match(pattern: str) -> tuple[list[str], str]:
    """(paths `pattern` names, the base their source names are relative to). A pattern without wildcards
    that names a folder stands for every file under it, at any depth."""
    try:
        if not _GLOB_CHARS.search(pattern):
            folder = pattern.rstrip("/")
            inside = [m.path for m in FileSystems.match([folder + "/**"])[0].metadata_list]
            if inside or _is_local_folder(folder):
                if not inside:
                    raise ConfigError("--input", f"{pattern}: is an empty folder")
                return inside, folder + "/"
        results = FileSystems.match([pattern])[0].metadata_list
    except ConfigError:
        raise
    except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError and others
        raise ConfigError("--input", f"{pattern}: cannot list it: {e}") from e
    paths = [m.path for m in results if not m.path.endswith("/") and not _is_local_folder(m.path)]
    if not paths:
        raise ConfigError("--input", f"{pattern}: " + ("matched no files" if _GLOB_CHARS.search(pattern)
                                                      else "no such file or folder"))
    return paths, glob_base(pattern)


def listing_patterns(patterns: list[str]) -> list[str]:
    """`patterns`, and `P/**` for each pattern P without wildcards (it may name a folder)."""
    return list(patterns) + [p.rstrip("/") + "/**" for p in patterns if not _GLOB_CHARS.search(p)]


def supported(path: str) -> bool:
    """Whether ingest reads files of this name (txt, txt.gz, jsonl, jsonl.gz, parquet)."""
    return path.lower().endswith(SUPPORTED_SUFFIXES)


def match_inputs(patterns: list[str]) -> InputList:
    """Every file `patterns` name, sorted and de-duplicated, each with its recorded source name, and the
    sources of the files skipped as not of a supported type (a README.md in a folder of novels).

    A pattern is a glob or a folder (read recursively). The source name is the path relative to the
    pattern's base directory, so a corpus built from another directory or bucket records the same
    names; names two globs share become full paths. Raises ConfigError for a pattern that names nothing
    (a typo should stop the build before it starts, not produce an empty corpus), and NothingToBuild
    when no file is of a supported type.
    """
    if not patterns:
        raise ConfigError("--input", "at least one input pattern is required")
    seen: dict[str, InputFile] = {}
    skipped: set[str] = set()
    for pattern in patterns:
        paths, base = _match(pattern)
        for path in paths:
            source = (path[len(base):] if base and path.startswith(base) else path.rsplit("/", 1)[-1]).lstrip("/")
            if supported(path):
                seen.setdefault(path, InputFile(path=path, source=source))
            else:
                skipped.add(source)
    if not seen:
        raise NothingToBuild("--input", f"{', '.join(patterns)}: no file of a supported type "
                             f"(skipped {len(skipped)}: {describe_skipped(sorted(skipped))}); nothing to build")
    return InputList(sorted(_unique_sources(seen.values()), key=lambda f: (f.source, f.path)), sorted(skipped))


def describe_skipped(skipped: list[str], show: int = 5) -> str:
    """'README.md, b/scan.pdf' (the first `show`, then how many more)."""
    more = f" and {len(skipped) - show} more" if len(skipped) > show else ""
    return ", ".join(skipped[:show]) + more


def _unique_sources(files) -> list[InputFile]:
    """Files from different globs can share a relative name (a/x.txt under 'a/*', b/x.txt under 'b/*'):
    those are recorded under their full path instead, so no two inputs share a source and every
    tie between identical copies (dedupe keeps the first by source, then locator) is broken the same
    way whatever the order of the globs."""
    by_source: dict[str, int] = {}
    for f in files:
        by_source[f.source] = by_source.get(f.source, 0) + 1
    return [f if by_source[f.source] == 1 else InputFile(path=f.path, source=f.path) for f in files]


def resolve_inputs(patterns: list[str], dry_run: bool = False) -> InputList:
    """The files to read and those skipped, as :func:`match_inputs` lists them at launch.

    In a dry run, patterns on remote file systems (gs://, s3://, hdfs://...) are not listed (that
    needs credentials and network): each stands for itself as one placeholder input, which gives
    the same graph. Local patterns are always listed, so a typo still fails. Raises ConfigError.
    """
    if not dry_run:
        return match_inputs(patterns)
    remote = [p for p in patterns if FileSystems.get_scheme(p) not in (None, "file")]
    files, skipped = match_inputs([p for p in patterns if p not in remote]) if len(remote) < len(patterns) else ([], [])
    for pattern in remote:
        LOG.warning("dry run: %s is not listed (remote file systems are listed only at a real launch)", pattern)
        files.append(InputFile(path=pattern, source=pattern[len(glob_base(pattern)):] or pattern))
    return InputList(sorted(files, key=lambda f: (f.source, f.path)), skipped)
