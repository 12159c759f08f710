"""Rebuild a corpus version from its manifest and prove it is the same (`longlm reproduce`).

Contract: the config (the vocabulary setting included) comes from OLD_DIR/manifest.json, never from
the command line. Before anything is built, every matched input is fingerprinted (size, then sha256,
streamed through Beam FileSystems) and compared with the manifest's inputs by recorded source name; any
missing, extra or changed file is named and the command exits 1 without building. Otherwise it builds
with :func:`pipelines.build.run.run_build` (any Beam flags), and exits 0 only when NEW_DIR/manifest.json equals the old one byte
for byte; else it names every differing manifest field and file and exits 1.

The new manifest records the old one's `input_patterns` (where the version was first read from), so a
copy of the inputs in another directory or bucket reproduces the version byte for byte; the patterns
actually read are in NEW_DIR/run.json (`argv`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor

from apache_beam.io.filesystems import FileSystems

from pipelines.build.inputs import match_inputs
from pipelines.build.run import BuildRequest, run_build
from pipelines.corpus.diff import manifest_differences
from pipelines.corpus.manifest import manifest_bytes, read_chain, read_manifest
from schemas import manifest as mf
from transforms.config_base import ConfigError

#: Bytes read per call while hashing an input.
CHUNK = 8 << 20


def file_fingerprint(path: str) -> dict:
    """{"bytes", "sha256"} of one file, streamed in CHUNK pieces (never held whole)."""
    digest, size = hashlib.sha256(), 0
    with FileSystems.open(path, compression_type="uncompressed") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return {"bytes": size, "sha256": digest.hexdigest()}


def check_inputs(recorded: list[dict], patterns: list[str], threads: int = 8) -> list[str]:
    """Problems (one line each) between the manifest's inputs and the files `patterns` match; [] when equal.

    Files are compared by recorded source name; a size mismatch is reported without hashing, and
    only files of the recorded size are hashed (in parallel threads, for remote file systems).
    """
    found = {f.source: f.path for f in match_inputs(patterns).files}
    expected = {i["source"]: i for i in recorded}
    problems = [f"missing: {s} ({expected[s]['bytes']} bytes, sha256 {expected[s]['sha256']})"
                for s in sorted(set(expected) - set(found))]
    problems += [f"extra: {s} ({found[s]}) is not in the manifest" for s in sorted(set(found) - set(expected))]
    shared = sorted(set(found) & set(expected))
    sizes = _sizes([found[s] for s in shared])
    to_hash = []
    for s in shared:
        size, want = sizes.get(found[s]), expected[s]
        if size is not None and size != want["bytes"]:
            problems.append(f"changed: {s}: {size} bytes, manifest says {want['bytes']} (sha256 {want['sha256']})")
        else:
            to_hash.append(s)
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for s, got in zip(to_hash, pool.map(lambda s: file_fingerprint(found[s]), to_hash)):
            want = expected[s]
            if (got["bytes"], got["sha256"]) != (want["bytes"], want["sha256"]):
                problems.append(f"changed: {s}: {got['bytes']} bytes sha256 {got['sha256']}, "
                                f"manifest says {want['bytes']} bytes sha256 {want['sha256']}")
    return problems


def _sizes(paths: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for result in FileSystems.match(paths) if paths else []:  # one MatchResult per path
        for m in result.metadata_list:
            out[m.path] = m.size_in_bytes
    return out


def rebuild_request(template: BuildRequest, manifest: dict, patterns: list[str]) -> BuildRequest:
    """The build that rebuilds `manifest`'s version from `patterns`: `template`'s output and run flags,
    the manifest's config (never a --config or --vocab) and its recorded input patterns."""
    return dataclasses.replace(template, inputs=patterns, config_path=None, vocab=None, dry_run=False,
                               config_data=manifest["config"],
                               recorded_patterns=manifest.get("input_patterns") or patterns)


def replay_chain(head_dir: str, patterns: list[str], template: BuildRequest) -> int:
    """Reproduce every version of `head_dir`'s chain, oldest first, each from its recorded input patterns
    (`patterns` for the head) on the base rebuilt just before it: bases into `OUTPUT.<version_id>`
    beside the head's `template.output`. Stops at the first version that does not reproduce."""
    versions = read_chain(head_dir)
    print(f"replaying a chain of {len(versions)} versions: {' <- '.join(v.version_id for v in reversed(versions))}")
    previous = None
    for version in reversed(versions[1:]):
        out = f"{template.output.rstrip('/')}.{version.version_id}"
        rc = reproduce(version.root, None, dataclasses.replace(template, output=out, base=previous))
        if rc != 0:
            return rc
        previous = out
    return reproduce(head_dir, patterns, dataclasses.replace(template, base=previous))


def reproduce(old_dir: str, patterns: list[str] | None, template: BuildRequest) -> int:
    """Check the inputs, rebuild into `template.output`, compare manifests (an increment without
    `template.base`: :func:`replay_chain`). Exit code: 0 reproduced byte for byte; 1 the inputs or the new manifest differ (each difference printed); 2 a user error."""
    try:
        old = read_manifest(old_dir)
        patterns = patterns or list(old.get("input_patterns") or [])
        if not patterns:
            raise ConfigError("--input", "the manifest records no input_patterns: pass --input")
        base_id = (old.get("config") or {}).get("base_version_id")
        if base_id and not template.base:
            return replay_chain(old_dir, patterns, template)
        vocab = (old.get("config") or {}).get("vocab", {}).get("model_path")
        if vocab and not FileSystems.exists(vocab):
            raise ConfigError("vocab.model_path", f"the version was built with the vocabulary '{vocab}', which is gone")
        print(f"checking {len(old['inputs'])} input fingerprints of {old['version_id']} against {', '.join(patterns)}")
        problems = check_inputs(old["inputs"], patterns)
    except ConfigError as e:
        print(f"longlm reproduce: {e}", file=sys.stderr)
        return 2
    if problems:
        print(f"longlm reproduce: the inputs are not those of {old['version_id']}; nothing was built:", file=sys.stderr)
        for line in problems:
            print(f"  {line}", file=sys.stderr)
        return 1
    rc = run_build(dataclasses.replace(rebuild_request(template, old, patterns),
                                       config_origin=f"recorded in {old_dir}"))
    if rc not in (0, 1):
        return rc
    new = read_manifest(template.output)
    if manifest_bytes(template.output) == manifest_bytes(old_dir):
        print(f"reproduced {new['version_id']}: {template.output}/{mf.MANIFEST_NAME} equals the old one byte for byte")
        return 0
    print(f"longlm reproduce: {template.output}/{mf.MANIFEST_NAME} differs from {old_dir}/{mf.MANIFEST_NAME}:",
          file=sys.stderr)
    for line in manifest_differences(old, new) or ["(same content, different bytes: manifest formatting)"]:
        print(f"  {line}", file=sys.stderr)
    return 1
