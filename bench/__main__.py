"""`python -m bench` (`make bench`): every benchmark in one run, one table, bench/results.json.

Runs, on the same machine in the same run:

* bench.bench_pipeline — vocabulary training, each stage as a plain loop vs inside Beam, whole
  builds at 1x/2x/4x input and with 1 vs 2 workers (figures: see that module);
* bench.bench_minhash — project MinHash vs datasketch (speed ratio, Jaccard error of both);
* bench.bench_clean, bench.bench_examples — cleaning, segmentation, tokenization + masking rates;
* bench.bench_train — T5 training tokens/s vs transformers' T5 (and GPU MFU when there is a GPU);
* bench.bench_scale — whole builds at 1x/2x/4x/8x band-permuted copies of the novels (memory and rate
  as the input grows); ``--only stress`` runs the 8x build N times (identity and one manifest hash).

Every figure is the median of ``--repeats`` runs (default 3); results.json keeps every run next to
the median, with the machine (CPU, cores, memory, load average) and package versions. bench_train is
run once: its figures are already medians of 3 interleaved rounds of both models.
The whole default run fits in 20 minutes on 2 cores; ``--quick`` is a tiny smoke run (seconds).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import sys
import time
from pathlib import Path

from bench import report
from bench.common import combine_runs, machine_info

RESULTS = Path(__file__).resolve().parent / "results.json"
SECTIONS = ("pipeline", "minhash", "clean", "examples", "train", "scale", "stress")
#: What `make bench` runs; `stress` (N large builds in a row) is asked for by name: --only stress.
DEFAULT_SECTIONS = ("pipeline", "minhash", "clean", "examples", "train", "scale")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    p.add_argument("--repeats", type=int, default=3, help="repeats per figure (median reported; default 3)")
    p.add_argument("--only", default=",".join(DEFAULT_SECTIONS),
                   help=f"comma-separated subset of {','.join(SECTIONS)} (default: all but stress)")
    p.add_argument("--scale-sizes", default="1,2,4,8", help="scale: band-permuted copies of the novels per build")
    p.add_argument("--stress-runs", type=int, default=5, help="stress: how many builds in a row")
    p.add_argument("--stress-copies", type=int, default=8, help="stress: copies of the novels per build")
    p.add_argument("--pipeline-sections", default="vocab,stages,builds", help="parts of the pipeline bench")
    p.add_argument("--groups", type=int, default=4, help="novels cut into this many equal groups; size 1x = one group")
    p.add_argument("--sizes", default="1,2,4", help="build input sizes, in groups")
    p.add_argument("--workers", default="inproc,1,2", help="build worker settings (inproc, 1, 2, 4)")
    p.add_argument("--stage-size", type=int, default=1,
                   help="groups the per-stage bench and the vocab sample run on (default 1 = the 1x slice)")
    p.add_argument("--generated", action="store_true", help="generated corpus even when ../shared/corpus exists")
    p.add_argument("--generated-mb", type=float, default=11.0, help="MB per generated group")
    p.add_argument("--output", default=str(RESULTS), help="where to write the results JSON")
    p.add_argument("--from-results", metavar="JSON",
                   help="measure nothing: recompute the table, limits and scale plan from a results file's figures")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: generated 0.3 MB groups, 1 repeat, sizes 1,2, in-process + 2 workers, no sub-benches")
    if "--quick" in argv:  # explicit flags still override these
        p.set_defaults(repeats=1, only="pipeline", generated=True, generated_mb=0.3, sizes="1,2",
                       workers="inproc,2", groups=2)
    a = p.parse_args(argv)
    unknown = set(a.only.split(",")) - set(SECTIONS)
    if unknown:
        p.error(f"unknown sections {sorted(unknown)}; choose from {', '.join(SECTIONS)}")
    if max([int(x) for x in a.sizes.split(",")] + [a.stage_size]) > a.groups:
        p.error("--sizes and --stage-size cannot exceed --groups")
    return a


def _quiet(fn, *args):
    """Call fn(*args) with its stdout swallowed (the sub-benches print their own reports)."""
    with contextlib.redirect_stdout(io.StringIO()):
        return fn(*args)


def _repeat(fn, repeats: int) -> dict:
    return combine_runs([_quiet(fn) for _ in range(repeats)])


def run_sections(a) -> tuple[dict, dict]:
    """Run every selected bench; returns (figures by section, seconds and load average per section)."""
    from bench import bench_pipeline

    figures, timing = {}, {}
    only = a.only.split(",")
    for name in SECTIONS:
        if name not in only:
            continue
        t0, load0 = time.perf_counter(), os.getloadavg()[0]
        if name == "pipeline":
            s = bench_pipeline.Settings(
                repeats=a.repeats, groups=a.groups, sizes=tuple(int(x) for x in a.sizes.split(",")),
                workers=tuple(a.workers.split(",")), generated=a.generated, generated_mb=a.generated_mb,
                sections=tuple(a.pipeline_sections.split(",")), stage_size=a.stage_size)
            try:
                figures[name] = bench_pipeline.run(s)
            finally:
                if s.workdir:
                    shutil.rmtree(s.workdir, ignore_errors=True)
        elif name == "minhash":
            from bench import bench_minhash

            figures[name] = _repeat(bench_minhash.main, a.repeats)
        elif name == "clean":
            from bench import bench_clean

            figures[name] = _repeat(bench_clean.main, a.repeats)
        elif name == "examples":
            from bench import bench_examples

            figures[name] = _repeat(bench_examples.main, a.repeats)
        elif name == "train":
            from bench import bench_train

            figures[name] = _quiet(bench_train.main, [])
        elif name == "scale":
            from bench import bench_scale

            figures[name] = bench_scale.main(["scale", "--sizes", a.scale_sizes])
        elif name == "stress":
            from bench import bench_scale

            figures[name] = bench_scale.main(["stress", "--runs", str(a.stress_runs), "--copies", str(a.stress_copies)])
        timing[name] = {"seconds": time.perf_counter() - t0, "load_1min_start": load0,
                        "load_1min_end": os.getloadavg()[0]}
        print(f"[bench] {name}: {timing[name]['seconds']:.0f} s (load {load0:.2f} -> {timing[name]['load_1min_end']:.2f})",
              file=sys.stderr, flush=True)
    return figures, timing


def measure(a) -> dict:
    """Run the benches; the results dict without the derived parts (table, limits, scale plan)."""
    started = time.perf_counter()
    machine = machine_info()
    figures, timing = run_sections(a)
    figures["cores"] = machine["cores"]
    return {
        "machine": machine,
        "settings": {k: v for k, v in vars(a).items() if k not in ("output", "from_results")},
        "total_seconds": time.perf_counter() - started,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "sections": timing,
        "figures": figures,
    }


def main(argv=None) -> dict:
    """Run, print the table, the limits and the scale plan; write results JSON; return the results."""
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.from_results:
        results = json.loads(Path(a.from_results).read_text(encoding="utf-8"))
    else:
        results = measure(a)
    figures, machine = results["figures"], results["machine"]
    rows = report.table_rows(figures)
    results.update({
        "table": [dict(zip(("section", "figure", "median", "compared_with", "note"), r)) for r in rows],
        "limits": report.limits(figures),
        "scale_plan": report.scale_plan(figures),
    })
    out = Path(a.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, ensure_ascii=False, default=str) + "\n", encoding="utf-8")
    print(f"longlm bench: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gb']} GB; "
          f"load average {machine['load_average_at_start'][0]:.2f} at start, {results['load_average_at_end'][0]:.2f} at end; "
          f"medians of {results['settings']['repeats']} repeats")
    print(report.render_table(rows))
    for line in results["limits"]:
        print(f"limit: {line}")
    for line in report.render_plan(results["scale_plan"]):
        print(line)
    print(f"total: {results['total_seconds']:.0f} s; results: {out}")
    return results


if __name__ == "__main__":
    main()
