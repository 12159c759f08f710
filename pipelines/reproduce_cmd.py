"""`longlm reproduce OLD_DIR --input GLOB... --output NEW_DIR`: rebuild a corpus version and prove it is the same.

Contract: the config (the vocabulary setting included) comes from OLD_DIR/manifest.json, never from
the command line. Before anything is built, every matched input is fingerprinted (size, then sha256,
streamed through Beam FileSystems) and compared with the manifest's inputs by recorded source name; any
missing, extra or changed file is named and the command exits 1 without building. Otherwise it builds
with `longlm build` (any Beam flags), and exits 0 only when NEW_DIR/manifest.json equals the old one byte
for byte; else it names every differing manifest field and file and exits 1.

The new manifest records the old one's `input_patterns` (where the version was first read from), so a
copy of the inputs in another directory or bucket reproduces the version byte for byte; the patterns
actually read are in NEW_DIR/run.json (`argv`).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor

from apache_beam.io.filesystems import FileSystems

from pipelines import build_cmd, progress
from pipelines.diff_cmd import manifest_differences, read_manifest
from pipelines.inputs import match_inputs
from schemas import manifest as mf
from transforms.config_base import ConfigError

#: Bytes read per call while hashing an input.
CHUNK = 8 << 20


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "reproduce",
        help="rebuild a corpus version from its manifest and check the result is byte-identical",
        description="Rebuild the corpus version in OLD_DIR with the config and vocabulary setting recorded in "
        "OLD_DIR/manifest.json. First checks that the inputs match the manifest's fingerprints (name, size, "
        "sha256) and stops, building nothing, if any file is missing, extra or changed. Then builds into "
        "NEW_DIR and compares the two manifests byte for byte. Any flag not listed here is a Beam pipeline "
        "option, as for `longlm build`.",
        epilog="Exit codes: 0 the version reproduced byte for byte; 1 inputs differ (nothing built) or the "
        "new manifest differs (differences listed); 2 bad arguments or an unreadable OLD_DIR.",
    )
    p.add_argument("old", metavar="OLD_DIR", help="a built corpus version (local, gs://, s3://, hdfs://)")
    p.add_argument("--input", action="append", metavar="GLOB",
                   help="the inputs, on any Beam file system; repeatable (default: the manifest's input_patterns)")
    p.add_argument("--output", required=True, metavar="NEW_DIR", help="where to rebuild")
    p.add_argument("--base", metavar="BASE_DIR",
                   help="for an incremental version (built with --base): its base version, whose id must match")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier build in NEW_DIR")
    p.add_argument("--quiet", action="store_true", help="no progress lines while building")
    p.add_argument("--progress-every", type=progress.interval_seconds, default=progress.DEFAULT_INTERVAL, metavar="SECONDS", help="seconds between progress lines")
    p.set_defaults(func=run, accepts_extra=True)


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
    found = {f.source: f.path for f in match_inputs(patterns)}
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


def build_args(args, manifest: dict, patterns: list[str]) -> argparse.Namespace:
    """The `longlm build` arguments that rebuild `manifest`'s version from `patterns` into args.output."""
    return argparse.Namespace(
        input=patterns, output=args.output, config=None, vocab=None, overwrite=args.overwrite, dry_run=False,
        quiet=args.quiet, base=args.base, extra=args.extra, progress_every=args.progress_every,
        config_data=manifest["config"], recorded_patterns=manifest.get("input_patterns") or patterns,
    )


def run(args) -> int:
    try:
        old = read_manifest(args.old)
        patterns = args.input or list(old.get("input_patterns") or [])
        if not patterns:
            raise ConfigError("--input", "the manifest records no input_patterns: pass --input")
        base_id = (old.get("config") or {}).get("base_version_id")
        if base_id and not args.base:
            raise ConfigError("--base", f"{old['version_id']} was built on base {base_id}: pass --base DIR of that version")
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
    rc = build_cmd.run(build_args(args, old, patterns))
    if rc not in (0, 1):
        return rc
    new = read_manifest(args.output)
    if _raw_manifest(args.output) == _raw_manifest(args.old):
        print(f"reproduced {new['version_id']}: {args.output}/{mf.MANIFEST_NAME} equals the old one byte for byte")
        return 0
    print(f"longlm reproduce: {args.output}/{mf.MANIFEST_NAME} differs from {args.old}/{mf.MANIFEST_NAME}:",
          file=sys.stderr)
    for line in manifest_differences(old, new) or ["(same content, different bytes: manifest formatting)"]:
        print(f"  {line}", file=sys.stderr)
    return 1


def _raw_manifest(root: str) -> bytes:
    with FileSystems.open(FileSystems.join(root.rstrip("/"), mf.MANIFEST_NAME)) as f:
        return f.read()
