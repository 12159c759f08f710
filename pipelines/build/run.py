"""Run one corpus build: :func:`run_build` takes a :class:`BuildRequest` and returns the exit code.

`longlm build` and `longlm reproduce` both end here. The request is resolved once (config, Beam
options, launch plan, input list, output directory), the stages of :mod:`pipelines.build.stages`
are assembled and run, and DIR/run.json records how this run went (not part of the version).
"""

from __future__ import annotations

import json
import logging
import platform
import sys
import time
from dataclasses import dataclass, field

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines.build import decontam, fingerprints, increment
from pipelines.build.config import BuildConfig, config_from_dict, input_bytes, load_config, resolve_output_shards
from pipelines.build.inputs import NothingToBuild, describe_skipped, resolve_inputs
from pipelines.build.output_dir import prepare_output, remove_build
from pipelines.build.stages import assemble
from pipelines.corpus.manifest import read_manifest
from pipelines.corpus.trail import describe_rejects, document_trail, nothing_kept
from pipelines.launch import local_memory, progress
from pipelines.launch.options import beam_options, is_launch_only, workers_are_remote
from pipelines.launch.packaging import dry_run_report, prepare_launch
from schemas import manifest as mf
from schemas.chain import BASE_DIR_KEY
from transforms.atomic_files import write_atomically
from transforms.config_base import ConfigError
from transforms.dedupe.increment import BaseVersion

LOG = logging.getLogger("longlm.build")


@dataclass(frozen=True)
class BuildRequest:
    """Everything one build needs, as the user (or `longlm reproduce`) asked for it.

    `config_data` (a recorded config, used as is) replaces `config_path` and `vocab`;
    `recorded_patterns` are the input patterns written into the manifest (default: `inputs`);
    `config_origin` says where `config_data` comes from, for the log.
    `decontaminate`: evaluation-file globs added to ``decontaminate.files`` (with `base`: they replace the
    base's, and must hold the same evaluation set).
    `beam_args` are the flags handed to Beam's PipelineOptions untouched."""

    inputs: list[str]
    output: str
    config_path: str | None = None
    vocab: str | None = None
    overwrite: bool = False
    dry_run: bool = False
    base: str | None = None
    quiet: bool = False
    progress_every: float = progress.DEFAULT_INTERVAL
    beam_args: list[str] = field(default_factory=list)
    config_data: dict | None = None
    recorded_patterns: list[str] | None = None
    config_origin: str | None = None
    decontaminate: list[str] = field(default_factory=list)


def resolve_config(req: BuildRequest) -> tuple[BuildConfig, BaseVersion | None, dict | None]:
    """(config, the base for the dedupe stage, the manifest's chain record), the last two None without
    --base. Raises ConfigError."""
    if req.base:
        cfg, base, chain = increment.resolve_base(req.base, req.config_data, req.config_path, req.vocab)
        if req.decontaminate:  # the same evaluation set where it is now (checked against the base's digest)
            cfg = cfg.replace("decontaminate", files=list(req.decontaminate))
        return cfg, base, chain
    if req.config_data is not None:
        cfg = config_from_dict(req.config_data)
    else:
        cfg = load_config(req.config_path, {"vocab": {"model_path": req.vocab}} if req.vocab else None)
    increment.check_not_increment(cfg)
    if req.decontaminate:
        cfg = cfg.replace("decontaminate", files=[*cfg.decontaminate.files, *req.decontaminate])
    return cfg, None, None


def stage_graph(p: beam.Pipeline) -> list[str]:
    """Labels of the pipeline's transforms, two levels deep, in graph order."""
    lines: list[str] = []

    class Visitor(beam.pipeline.PipelineVisitor):
        def enter_composite_transform(self, node):
            depth = node.full_label.count("/")
            if node.full_label and depth <= 1:
                lines.append("  " * depth + node.full_label.rsplit("/", 1)[-1])

        def visit_transform(self, node):
            self.enter_composite_transform(node)

    p.visit(Visitor())
    return lines


def run_build(req: BuildRequest) -> int:
    """Build (or, with `dry_run`, describe) one corpus version. Returns 0 built and accounted for,
    1 built but documents or rows are unaccounted for, 2 a user error (one line on stderr, nothing written)."""
    try:
        cfg, base, chain = resolve_config(req)
        options = beam_options(req.beam_args)
        launch_only = req.dry_run or is_launch_only(options)
        # Before beam.Pipeline(): Beam validates packaging options when the pipeline is made.
        plan = prepare_launch(options, dry_run=launch_only, paths=[*req.inputs, req.output, req.vocab])
        files, skipped = resolve_inputs(req.inputs, dry_run=launch_only)
        eval_files = decontam.eval_files(cfg, dry_run=launch_only)
        if eval_files and not (launch_only and any(FileSystems.get_scheme(f.path) not in (None, "file")
                                                   for f in eval_files)):
            decontam.check_eval_files(cfg.decontaminate, eval_files)
        cfg = resolve_output_shards(cfg, None if launch_only else req.inputs, [f.path for f in files])
        recorded_config = fingerprints.manifest_config(cfg, dry_run=launch_only)
        if req.base:
            decontam.check_increment(read_manifest(req.base.rstrip("/")), recorded_config)
        earlier = None if launch_only else read_manifest(req.output, missing_ok=True)
        if earlier is not None:
            fingerprints.warn_on_drift(earlier, f"rebuilding {req.output}")
        total_bytes = None if launch_only else input_bytes(req.inputs, [f.path for f in files])
        if not launch_only and not workers_are_remote(options):
            warning = local_memory.memory_warning(total_bytes / 1e6)
            if warning:
                LOG.warning("%s", warning)
        if not launch_only:
            removed = prepare_output(req.output, req.overwrite)
            if removed:
                LOG.info("--overwrite: removed %d files of an earlier build from %s", len(removed), req.output)
    except ConfigError as e:
        print(f"longlm build: {e}", file=sys.stderr)
        return 1 if isinstance(e, NothingToBuild) else 2
    LOG.info("%d input files from %s; config %s; runner %s; shards: documents %d, examples %d per split",
             len(files), ", ".join(req.inputs), _config_origin(req), options.view_as(StandardOptions).runner,
             cfg.output.documents_shards, cfg.output.examples_shards)
    if skipped:
        LOG.warning("skipped %d file%s of unsupported types: %s", len(skipped), "s" * (len(skipped) != 1),
                    describe_skipped(skipped))
    watch = progress.Watch(options, enabled=not (req.quiet or launch_only), interval=req.progress_every,
                           total_bytes=total_bytes)
    p = beam.Pipeline(runner=watch.runner, options=options)
    assemble(p, cfg, files, req.output, req.recorded_patterns or req.inputs,
             manifest_config=recorded_config, base=base, chain=chain, skipped_inputs=skipped,
             eval_files=eval_files)
    if req.dry_run:
        print("stages:\n" + "\n".join(stage_graph(p)))
        print("options:\n" + json.dumps(options.get_all_options(drop_default=True), indent=2, sort_keys=True, default=str))
        print(dry_run_report(p, options, plan))
        return 0
    started = time.time()
    try:
        with watch:
            result = watch.result = p.run()
            if is_launch_only(options):
                print(f"{plan.describe()}\nDataflow --dry_run: job built, not submitted")
                return 0
            result.wait_until_finish()
    except KeyboardInterrupt:
        print(f"interrupted: {req.output} is incomplete", file=sys.stderr)
        return 130
    return _report(req.output, options, time.time() - started, cfg, req.base)


def _config_origin(req: BuildRequest) -> str:
    if req.base:
        return f"of the base version {req.base}"
    if req.config_data is not None:
        return req.config_origin or "recorded in a manifest"
    return req.config_path or "(defaults)"


def _report(output: str, options: PipelineOptions, seconds: float, cfg: BuildConfig, base: str | None = None) -> int:
    """Write DIR/run.json, log the version and its accounting; the exit code of :func:`run_build`.
    A full build that kept no document is removed again (exit 1, one line); an increment whose new
    documents were all duplicates of its chain is a version all the same."""
    manifest = read_manifest(output)
    acc = manifest["accounting"]
    if acc["kept"] == 0 and not base:
        remove_build(output)
        print(f"longlm build: {nothing_kept(manifest)}; nothing to build", file=sys.stderr)
        return 1
    raw_bytes = sum(i["bytes"] for i in manifest["inputs"])
    run_info = {
        "version_id": manifest["version_id"],
        "seconds": round(seconds, 3),
        "input_mb_per_s": round(raw_bytes / 1e6 / seconds, 3) if seconds else None,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": platform.node(),
        "python": platform.python_version(),
        "argv": sys.argv,
        "beam_options": options.get_all_options(drop_default=True),
    }
    if base:  # where readers of the chain find the base (schemas/chain.py)
        run_info[BASE_DIR_KEY] = increment.base_dir_record(output, base)
    if not workers_are_remote(options):
        run_info["peak_rss_mb"] = local_memory.measured_peaks_mb()
    write_atomically(FileSystems.join(output, mf.RUN_INFO_NAME),
                     json.dumps(run_info, indent=2, sort_keys=True, default=str).encode())
    LOG.info("built %s in %.1fs (%.2f MB/s of raw input) -> %s", manifest["version_id"], seconds,
             raw_bytes / 1e6 / max(seconds, 1e-9), output)
    LOG.info("documents: read %d = kept %d + rejected %d + filtered %d + duplicates %d (%s)", acc["read"], acc["kept"],
             acc["rejected"], acc["filtered"], acc["duplicates"], "holds" if acc["holds"] else "DOES NOT HOLD")
    if acc["rejected"]:
        LOG.warning("rejected %d: %s (all in %s/rejects/)", acc["rejected"], describe_rejects(output), output)
    pieces = manifest["counters"].get("vocab.pieces")
    if pieces is not None and pieces < cfg.vocab.vocab_size:
        LOG.warning("the vocabulary has %s pieces, fewer than vocab_size %s: the corpus is too small for more "
                    "(recorded as counters.vocab.pieces)", f"{pieces:,}", f"{cfg.vocab.vocab_size:,}")
    writers = manifest.get("writers", {"holds": True, "short": []})
    for line in writers["short"]:
        LOG.error("rows lost before a writer: %s", line)
    if not (acc["holds"] and writers["holds"]):
        trail, gaps = document_trail(manifest)
        LOG.error("documents per stage: %s", trail)
        for gap in gaps:
            LOG.error("%s: the runner dropped elements between stages (docs/cluster.md)", gap)
    return 0 if acc["holds"] and writers["holds"] else 1
