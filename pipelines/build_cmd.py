"""`longlm build`: run the corpus build on any Beam runner.

Flags this command does not define are handed to Beam's PipelineOptions untouched, so `--runner`,
`--direct_num_workers`, `--project`, `--region`, `--temp_location` and friends work as Beam users expect.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import time

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions

from pipelines import fingerprints, increment, local_memory, progress, runners
from pipelines.build import assemble
from pipelines.config import BuildConfig, config_from_dict, input_bytes, load_config, resolve_output_shards
from pipelines.output_dir import prepare_output
from schemas import manifest as mf
from transforms.config_base import ConfigError
from transforms.shard_writer import write_atomically

LOG = logging.getLogger("longlm.build")

#: The local default, chosen by measurement (README, "Performance"): the in-process FnApiRunner. Its
#: multi-process mode drops elements at stage hand-offs at a few hundred MB on Beam 2.77 (one 374 MB
#: build in four); --direct_running_mode=multi_processing --direct_num_workers=N opts in.
DEFAULT_LOCAL_OPTIONS = ["--runner=FnApiRunner", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "build",
        help="build a corpus version: ingest, clean, dedupe, vocab, examples -> Parquet + manifest.json",
        description="Build a corpus version from raw novels. Any flag not listed here is a Beam pipeline option "
        "(e.g. --runner DataflowRunner --project P --region R --temp_location gs://B/tmp, or "
        "--direct_num_workers 2). Default runner: the in-process FnApiRunner (README: Performance).",
        epilog="Outputs: DIR/manifest.json, DIR/run.json, DIR/documents/, DIR/rejects/, DIR/filtered/, "
        "DIR/duplicates/, DIR/vocab/, DIR/examples/{train,validation}/. Check them with `longlm verify DIR`.",
    )
    p.add_argument("--input", action="append", required=True, metavar="GLOB",
                   help="input files (txt, txt.gz, jsonl, jsonl.gz, parquet) on any Beam file system; repeatable")
    p.add_argument("--output", required=True, metavar="DIR", help="output directory (local, gs://, s3://, hdfs://)")
    p.add_argument("--config", metavar="TOML", help="corpus config (see `longlm init-config`); default: all defaults")
    p.add_argument("--vocab", metavar="PATH", help="reuse this spiece.model instead of training a vocabulary")
    p.add_argument("--overwrite", action="store_true",
                   help="DIR is not empty: delete every file an earlier build (finished or not) left there first; "
                   "without it a non-empty DIR is refused")
    p.add_argument("--dry-run", action="store_true", help="print the stage graph and resolved options, run nothing")
    p.add_argument("--base", metavar="OLD_DIR",
                   help="build an increment: dedupe --input against itself and the version in OLD_DIR (its signatures/), "
                   "with OLD_DIR's config and vocabulary; records base_version_id (README: Corpus versions)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress lines (by default one line every few seconds: stage, documents, MB, rate)")
    p.add_argument("--progress-every", type=progress.interval_seconds, default=progress.DEFAULT_INTERVAL, metavar="SECONDS",
                   help="seconds between two progress lines (default %(default)s)")
    p.set_defaults(func=run, accepts_extra=True)


def beam_options(extra: list[str]) -> PipelineOptions:
    """PipelineOptions from the user's Beam flags, with the local default runner when none is named."""
    flags = list(extra)
    if not any(a == "--runner" or a.startswith("--runner=") for a in flags):
        named = {a.split("=")[0] for a in flags}
        flags = [f for f in DEFAULT_LOCAL_OPTIONS if f.split("=")[0] not in named] + flags
    return PipelineOptions(flags)


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


def run(args) -> int:
    try:
        overrides = {"vocab": {"model_path": args.vocab}} if args.vocab else None
        # `longlm reproduce` passes the recorded config as data (config_data) and the recorded patterns.
        base_files = None
        if getattr(args, "base", None):
            cfg, base_files = increment.resolve_base(args.base, getattr(args, "config_data", None), args.config, args.vocab)
        else:
            cfg: BuildConfig = (config_from_dict(args.config_data) if getattr(args, "config_data", None) is not None
                                else load_config(args.config, overrides))
            increment.check_not_increment(cfg)
        options = beam_options(args.extra)
        launch_only = args.dry_run or runners.is_launch_only(options)
        # Before beam.Pipeline(): Beam validates packaging options when the pipeline is made.
        plan = runners.prepare_launch(options, dry_run=launch_only, paths=[*args.input, args.output, args.vocab])
        files = runners.resolve_inputs(args.input, dry_run=launch_only)
        cfg = resolve_output_shards(cfg, None if launch_only else args.input, [f.path for f in files])
        recorded_config = fingerprints.manifest_config(cfg, dry_run=launch_only)
        earlier = None if launch_only else fingerprints.read_manifest(args.output)
        if earlier is not None:
            fingerprints.warn_on_drift(earlier, f"rebuilding {args.output}")
        if not launch_only and not runners.workers_are_remote(options):
            warning = local_memory.memory_warning(input_bytes(args.input, [f.path for f in files]) / 1e6)
            if warning:
                LOG.warning("%s", warning)
        if not launch_only:
            removed = prepare_output(args.output, args.overwrite)
            if removed:
                LOG.info("--overwrite: removed %d files of an earlier build from %s", len(removed), args.output)
    except ConfigError as e:
        print(f"longlm build: {e}", file=sys.stderr)
        return 2
    LOG.info("%d input files from %s; config %s; runner %s; shards: documents %d, examples %d per split",
             len(files), ", ".join(args.input), args.config or "(defaults)", options.view_as(StandardOptions).runner,
             cfg.output.documents_shards, cfg.output.examples_shards)
    watch = progress.Watch(options, enabled=not (getattr(args, "quiet", False) or launch_only),
                           interval=getattr(args, "progress_every", progress.DEFAULT_INTERVAL))
    p = beam.Pipeline(runner=watch.runner, options=options)
    assemble(p, cfg, files, args.output, getattr(args, "recorded_patterns", None) or args.input,
             manifest_config=recorded_config, base_signatures=base_files)
    if args.dry_run:
        print("stages:\n" + "\n".join(stage_graph(p)))
        print("options:\n" + json.dumps(options.get_all_options(drop_default=True), indent=2, sort_keys=True, default=str))
        print(runners.dry_run_report(p, options, plan))
        return 0
    started = time.time()
    with watch:
        result = watch.result = p.run()
        if runners.is_launch_only(options):
            print(f"{plan.describe()}\nDataflow --dry_run: job built, not submitted")
            return 0
        result.wait_until_finish()
    seconds = time.time() - started
    return _report(args, cfg, options, seconds)


#: (counter, what it counts) for the documents' path through the build, in order; each step's count
#: is the previous one's minus what the stage between them removed on purpose (counted).
_TRAIL = ("ingest.documents", "clean.docs_in", "filter.kept", "dedupe.input_docs", "dedupe.kept", "segment.documents")


def document_trail(manifest: dict) -> tuple[str, list[str]]:
    """(one line of per-stage document counts, the hand-offs where documents vanished uncounted).

    Every document a stage drops on purpose is counted (filtered, *_removed, rejected with the stage),
    so after dedupe `dedupe.input_docs = dedupe.kept + removed`, and both consumers of the kept
    documents (segmentation, the documents writer) must see `dedupe.kept`. A hand-off that comes up
    short lost documents between two stages, which no stage of ours does: it names where to look
    when the accounting identity fails.
    """
    c = manifest.get("counters", {})
    rows = sum(f["rows"] or 0 for f in manifest.get("files", []) if f.get("table") == "documents")
    removed = sum(v for k, v in c.items() if k.startswith("dedupe.") and k.endswith("_removed"))
    steps = [(name, c[name]) for name in _TRAIL if name in c] + [("documents rows", rows)]
    checks = [("filter.kept", "dedupe.input_docs", c.get("filter.kept")),
              ("dedupe.input_docs", "dedupe.kept", None if "dedupe.input_docs" not in c else c["dedupe.input_docs"] - removed),
              ("dedupe.kept", "segment.documents", c.get("dedupe.kept")),
              ("dedupe.kept", "documents rows", c.get("dedupe.kept"))]
    arrived = dict(steps)
    gaps = [f"{want - arrived[name]} documents lost between {prev} and {name} ({want} expected, {arrived[name]} arrived)"
            for prev, name, want in checks if want is not None and name in arrived and arrived[name] < want]
    return " -> ".join(f"{name} {n}" for name, n in steps), gaps


def _report(args, cfg: BuildConfig, options: PipelineOptions, seconds: float) -> int:
    with FileSystems.open(FileSystems.join(args.output, mf.MANIFEST_NAME)) as f:
        manifest = json.loads(f.read())
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
    if not runners.workers_are_remote(options):
        run_info["peak_rss_mb"] = local_memory.measured_peaks_mb()
    write_atomically(FileSystems.join(args.output, mf.RUN_INFO_NAME),
                     json.dumps(run_info, indent=2, sort_keys=True, default=str).encode())
    acc = manifest["accounting"]
    LOG.info("built %s in %.1fs (%.2f MB/s of raw input) -> %s", manifest["version_id"], seconds,
             raw_bytes / 1e6 / max(seconds, 1e-9), args.output)
    LOG.info("documents: read %d = kept %d + rejected %d + filtered %d + duplicates %d (%s)", acc["read"], acc["kept"],
             acc["rejected"], acc["filtered"], acc["duplicates"], "holds" if acc["holds"] else "DOES NOT HOLD")
    writers = manifest.get("writers", {"holds": True, "short": []})
    for line in writers["short"]:
        LOG.error("rows lost before a writer: %s", line)
    if not (acc["holds"] and writers["holds"]):
        trail, gaps = document_trail(manifest)
        LOG.error("documents per stage: %s", trail)
        for gap in gaps:
            LOG.error("%s: the runner dropped elements between stages (README, 'Runners')", gap)
    return 0 if acc["holds"] and writers["holds"] else 1
