"""Resolve `--input` globs into the list of files a build reads, at launch time, through Beam FileSystems."""

from __future__ import annotations

import logging
import re

from apache_beam.io.filesystems import FileSystems

from transforms.config_base import ConfigError
from transforms.ingest.parse import InputFile

LOG = logging.getLogger("longlm.runners")

_GLOB_CHARS = re.compile(r"[*?\[]")


def glob_base(pattern: str) -> str:
    """The directory part of a pattern before its first wildcard ('data/novels/*.txt' -> 'data/novels/')."""
    m = _GLOB_CHARS.search(pattern)
    literal = pattern[: m.start()] if m else pattern
    cut = literal.rfind("/")
    return literal[: cut + 1] if cut >= 0 else ""


def match_inputs(patterns: list[str]) -> list[InputFile]:
    """Every file matched by `patterns`, sorted and de-duplicated, each with its recorded source name.

    The source name is the path relative to the pattern's base directory, so a corpus built from
    another directory or bucket records the same names; names two globs share become full paths. Raises ConfigError for a pattern that matches
    nothing (a typo should stop the build before it starts, not produce an empty corpus).
    """
    if not patterns:
        raise ConfigError("--input", "at least one input pattern is required")
    seen: dict[str, InputFile] = {}
    for pattern in patterns:
        try:
            results = FileSystems.match([pattern])[0].metadata_list
        except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError and others
            raise ConfigError("--input", f"cannot list '{pattern}': {e}") from e
        files = [m for m in results if not m.path.endswith("/")]
        if not files:
            raise ConfigError("--input", f"'{pattern}' matched no files")
        base = glob_base(pattern)
        for meta in files:
            path = meta.path
            source = path[len(base):] if base and path.startswith(base) else path.rsplit("/", 1)[-1]
            seen.setdefault(path, InputFile(path=path, source=source.lstrip("/")))
    return sorted(_unique_sources(seen.values()), key=lambda f: (f.source, f.path))


def _unique_sources(files) -> list[InputFile]:
    """Files from different globs can share a relative name (a/x.txt under 'a/*', b/x.txt under 'b/*'):
    those are recorded under their full path instead, so no two inputs share a source and every
    tie between identical copies (dedupe keeps the first by source, then locator) is broken the same
    way whatever the order of the globs."""
    by_source: dict[str, int] = {}
    for f in files:
        by_source[f.source] = by_source.get(f.source, 0) + 1
    return [f if by_source[f.source] == 1 else InputFile(path=f.path, source=f.path) for f in files]


def resolve_inputs(patterns: list[str], dry_run: bool = False) -> list[InputFile]:
    """The files to read, as :func:`match_inputs` lists them at launch.

    In a dry run, patterns on remote file systems (gs://, s3://, hdfs://...) are not listed (that
    needs credentials and network): each stands for itself as one placeholder input, which gives
    the same graph. Local patterns are always listed, so a typo still fails. Raises ConfigError.
    """
    if not dry_run:
        return match_inputs(patterns)
    remote = [p for p in patterns if FileSystems.get_scheme(p) not in (None, "file")]
    files = match_inputs([p for p in patterns if p not in remote]) if len(remote) < len(patterns) else []
    for pattern in remote:
        LOG.warning("dry run: %s is not listed (remote file systems are listed only at a real launch)", pattern)
        files.append(InputFile(path=pattern, source=pattern[len(glob_base(pattern)):] or pattern))
    return sorted(files, key=lambda f: (f.source, f.path))
