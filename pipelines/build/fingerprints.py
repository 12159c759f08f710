"""What, besides the config and the input bytes, decides a build's output bytes: recorded and hashed.

The version id (``schemas.manifest.version_id``) hashes the manifest's ``config``; the build adds a
``fingerprints`` table to it with the sha256 of the *contents* of the files the config points at
(``--vocab``, ``clean.patterns_file`` or the packaged patterns, the evaluation files of ``--decontaminate``)
and the versions of what changes bytes
(Python's Unicode database, pyarrow, numpy, sentencepiece, OpenCC, jieba). The paths themselves are
left out of the id, so the same vocabulary copied elsewhere gives the same id, and new bytes at the
same path give a new one. :func:`version_drift` tells ``verify`` and a rebuild when the installed
versions differ from a manifest's.
"""

from __future__ import annotations

import hashlib
import logging
import unicodedata
from typing import Any

from apache_beam.io.filesystems import FileSystems

from pipelines.build import decontam
from pipelines.build.config import BuildConfig
from schemas import manifest as mf
from transforms.config_base import ConfigError

LOG = logging.getLogger("longlm.fingerprints")

#: Distributions whose version changes output bytes (normalization, Parquet encoding, tokenization,
#: t2s conversion, word boundaries).
BYTE_CHANGING_PACKAGES = ("pyarrow", "numpy", "sentencepiece", "opencc", "jieba")
UNICODE_KEY = "python-unicodedata"


def installed_versions() -> dict[str, str]:
    """{UNICODE_KEY: unicodedata.unidata_version, package: installed version or 'not installed'}."""
    from pipelines.build.manifest_step import package_versions

    return {UNICODE_KEY: unicodedata.unidata_version, **package_versions(BYTE_CHANGING_PACKAGES)}


def _sha256_of(path: str, key: str) -> str:
    digest = hashlib.sha256()
    try:
        with FileSystems.open(path) as f:
            while chunk := f.read(1 << 20):
                digest.update(chunk)
    except Exception as e:  # noqa: BLE001 - Beam raises BeamIOError and others
        raise ConfigError(key, f"cannot read {path}: {e}") from e
    return digest.hexdigest()


def _is_remote(path: str) -> bool:
    return FileSystems.get_scheme(path) not in (None, "file")


def content_fingerprints(cfg: BuildConfig, dry_run: bool = False) -> dict[str, Any]:
    """sha256 of the vocab file (None when the build trains one) and of the cleaning patterns,
    :func:`installed_versions`, and with an evaluation set its files' sha256 and digest (``eval_set``). Reads the files through Beam FileSystems; raises ConfigError. In a
    dry run, files on remote file systems are not read (no credentials needed)."""
    from transforms.cleaning.patterns import read_pattern_text

    def digest(path: str, key: str, read) -> str:
        if dry_run and _is_remote(path):
            return "(not read in a dry run)"
        return read(path, key)

    vocab, patterns = cfg.vocab.model_path, cfg.clean.patterns_file
    out = {
        "vocab_sha256": digest(vocab, "vocab.model_path", _sha256_of) if vocab else None,
        "patterns_sha256": digest(patterns or "", "clean.patterns_file",
                                  lambda p, _: hashlib.sha256(read_pattern_text(p or None).encode()).hexdigest()),
        "versions": installed_versions(),
    }
    if cfg.decontaminate.enabled:  # only then: a build without an evaluation set keeps its version id
        out[decontam.EVAL_SET_KEY] = decontam.eval_set_fingerprint(decontam.eval_files(cfg, dry_run), dry_run)
    return out


def manifest_config(cfg: BuildConfig, dry_run: bool = False) -> dict[str, Any]:
    """The config recorded in (and hashed into the version id of) the manifest: every key, plus
    ``fingerprints`` (:func:`content_fingerprints`)."""
    return {**cfg.to_dict(), mf.FINGERPRINTS_KEY: content_fingerprints(cfg, dry_run)}


def version_drift(manifest: dict[str, Any]) -> list[str]:
    """One line per byte-changing version that differs between `manifest` and this installation."""
    recorded = (manifest.get("config") or {}).get(mf.FINGERPRINTS_KEY, {}).get("versions")
    if recorded is None:
        return ["the manifest records no byte-changing versions (built before they were recorded)"]
    now = installed_versions()
    return [f"{name}: manifest {recorded.get(name)!s}, installed {now.get(name)!s}"
            for name in sorted(set(recorded) | set(now)) if recorded.get(name) != now.get(name)]


def warn_on_drift(manifest: dict[str, Any], what: str) -> list[str]:
    """Log a warning naming every drifted version (see :func:`version_drift`); returns the lines."""
    lines = version_drift(manifest)
    if lines:
        LOG.warning("%s: installed versions differ from the manifest's (version %s); output bytes may differ:\n  %s",
                    what, manifest.get("version_id"), "\n  ".join(lines))
    return lines
