"""Whole builds as the input grows (scale) and the same large build again and again (stress).

Input: band-permuted copies of the shared novels (:mod:`bench.scale_corpus`; without ../shared, of the
generated sample corpus's .txt novels), so every copy is distinct real-shaped text that the filters and
dedupe keep. The vocabulary is trained once by a build of copy 0 alone (timed and reported on its own);
every measured build reuses it with ``--vocab``, so the figures show the pipeline's own scaling.

* ``scale``: one build at each of ``--sizes`` copies (default 1,2,4,8) with the default local runner
  (``--flags`` for others, e.g. 2 worker processes). Per size: wall seconds, MB/s per core, peak RSS
  of the largest SDK worker, of the runner process and of the tree;
  then the ratios the scale issue sets targets for (worker 8x/1x, tree 4x/1x, marginal rate 1x->4x).
* ``stress``: ``--runs`` builds (default 5) at ``--copies`` copies (default 8) with the default local
  runner (``--flags`` for others); each must hold the accounting identity, and all must give one
  manifest hash. Prints every run and its peak memory.

    python -m bench.bench_scale scale [--sizes 1,2,4,8]
    python -m bench.bench_scale stress [--runs 5 --copies 8]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from bench.common import NOVELS, run_measured
from bench.scale_corpus import write_copies

WORKERS = 2
#: The vocabulary build (copy 0 alone, small enough for the multi-process mode) uses two worker processes.
BUILD_FLAGS = ["--direct_running_mode=multi_processing", f"--direct_num_workers={WORKERS}"]


def source_folder(workdir: Path, generated_mb: float = 45.0) -> tuple[Path, str]:
    """The folder whose files are copied: the shared novels, else generated sample novels (.txt only)."""
    if NOVELS.is_dir():
        return NOVELS, f"../shared/corpus/novels ({len(list(NOVELS.iterdir()))} files)"
    from pipelines.corpus.sample import generate

    src = workdir / "generated"
    src.mkdir(parents=True, exist_ok=True)
    total, seed = 0, 2000
    while total < generated_mb * 1e6:
        files, _ = generate(docs=60, seed=seed)
        for name, data in sorted(files.items()):
            if name.endswith(".txt"):
                (src / f"s{seed}_{Path(name).name}").write_bytes(data)
                total += len(data)
        seed += 1
    return src, f"generated sample corpus novels ({total / 1e6:.0f} MB)"


def build(input_glob: str, output: Path, vocab: Path | None, flags=BUILD_FLAGS, workers: int = WORKERS) -> dict:
    """One `longlm build` subprocess; figures from run.json, the manifest and the sampled process tree."""
    if output.exists():
        shutil.rmtree(output)
    cmd = [sys.executable, "-m", "pipelines.cli", "build", "--input", input_glob, "--output", str(output), *flags]
    if vocab is not None:
        cmd += ["--vocab", str(vocab)]
    m = run_measured(cmd, interval=0.2)
    manifest_path = output / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    run_info = json.loads((output / "run.json").read_text()) if (output / "run.json").exists() else {}
    mb = sum(i["bytes"] for i in manifest["inputs"]) / 1e6 if manifest else None
    seconds = run_info.get("seconds") or m["wall_s"]
    return {
        "returncode": m["returncode"],
        "input_mb": mb,
        "seconds": seconds,
        "mb_per_s_per_core": mb / seconds / workers if mb else None,
        "cpu_s": m["cpu_s"],
        "peak_worker_rss_mb": m["peak_child_rss_mb"],
        "peak_runner_rss_mb": m["peak_root_rss_mb"],
        "peak_tree_rss_mb": m["peak_tree_rss_mb"],
        "load_1min": os.getloadavg()[0],
        "accounting": manifest["accounting"] if manifest else None,
        "manifest_sha256": hashlib.sha256(manifest_path.read_bytes()).hexdigest() if manifest else None,
        "output_tail": m["output_tail"] if m["returncode"] else "",
    }


def prepare(workdir: Path, copies: int) -> tuple[Path, Path, dict]:
    """Write the copies, train the vocabulary with a build of copy 0; (copies dir, spiece.model, vocab figures)."""
    src, described = source_folder(workdir)
    copies_dir = workdir / "copies"
    n_files, n_bytes = write_copies(src, copies_dir, copies)
    print(f"[scale] {copies} copies of {described}: {n_files} files, {n_bytes / 1e6:.0f} MB", flush=True)
    with_vocab = build(str(copies_dir / "k0_*"), workdir / "vocab-build", None)
    if with_vocab["returncode"] != 0:
        raise RuntimeError(f"vocabulary build failed:\n{with_vocab['output_tail']}")
    model = workdir / "spiece.model"
    shutil.copy(workdir / "vocab-build" / "vocab" / "spiece.model", model)
    return copies_dir, model, {"build_with_vocab_training_s": with_vocab["seconds"], "input_mb": with_vocab["input_mb"]}


def _workers(flags: list[str]) -> int:
    return next((int(f.split("=")[1]) for f in flags if f.startswith("--direct_num_workers=")), 1)


def scale(sizes: list[int], workdir: Path, flags: list[str] | None = None) -> dict:
    """One build per size with `flags` (default: the default local runner)."""
    copies_dir, model, vocab = prepare(workdir, max(sizes))
    flags = list(flags or [])
    runs = {}
    for k in sizes:
        glob = str(copies_dir / ("k[0-%d]_*" % (k - 1) if k <= 10 else "*"))
        r = build(glob, workdir / f"out-{k}x", model, flags, _workers(flags))
        if r["returncode"] != 0:
            raise RuntimeError(f"{k}x build failed:\n{r['output_tail']}")
        runs[k] = r
        print(f"[scale] {k}x: {r['input_mb']:.0f} MB in {r['seconds']:.1f} s, {r['mb_per_s_per_core']:.2f} MB/s per core, "
              f"worker {r['peak_worker_rss_mb']:.0f} MB, runner {r['peak_runner_rss_mb']:.0f} MB, "
              f"tree {r['peak_tree_rss_mb']:.0f} MB (load {r['load_1min']:.1f})", flush=True)
    base, out = runs[min(sizes)], {"vocab": vocab, "runs": runs, "flags": flags}
    vocab["build_without_vocab_training_s"] = base["seconds"]
    for k, r in runs.items():
        if base["peak_worker_rss_mb"]:  # in-process builds have no worker process
            out[f"{k}x_worker_rss_ratio"] = r["peak_worker_rss_mb"] / base["peak_worker_rss_mb"]
        out[f"{k}x_tree_rss_ratio"] = r["peak_tree_rss_mb"] / base["peak_tree_rss_mb"]
    if 4 in runs and runs[4]["seconds"] > base["seconds"]:
        marginal = (runs[4]["input_mb"] - base["input_mb"]) / (runs[4]["seconds"] - base["seconds"])
        out["marginal_mb_per_s_per_core_1x_4x"] = marginal / _workers(flags)
    sizes_mb = [runs[k]["input_mb"] for k in sizes]
    if len(sizes) > 1:
        if base["peak_worker_rss_mb"]:
            out["worker_rss_slope_mb_per_input_mb"] = ((runs[max(sizes)]["peak_worker_rss_mb"] - base["peak_worker_rss_mb"])
                                                       / (max(sizes_mb) - min(sizes_mb)))
        out["tree_rss_slope_mb_per_input_mb"] = ((runs[max(sizes)]["peak_tree_rss_mb"] - base["peak_tree_rss_mb"])
                                                 / (max(sizes_mb) - min(sizes_mb)))
    return out


def stress(runs: int, copies: int, workdir: Path, flags: list[str] | None = None) -> dict:
    """`runs` builds of `copies` copies with the default local runner (or `flags`)."""
    copies_dir, model, vocab = prepare(workdir, copies)
    results, hashes = [], set()
    flags = list(flags or [])
    for i in range(runs):
        r = build(str(copies_dir / "*"), workdir / "out", model, flags, _workers(flags))
        acc = r["accounting"] or {}
        holds = r["returncode"] == 0 and bool(acc.get("holds"))
        hashes.add(r["manifest_sha256"])
        results.append(r)
        print(f"[stress] run {i + 1}/{runs}: rc={r['returncode']} read {acc.get('read')} = kept {acc.get('kept')} "
              f"+ rejected {acc.get('rejected')} + filtered {acc.get('filtered')} + duplicates {acc.get('duplicates')} "
              f"({'holds' if holds else 'DOES NOT HOLD'}); manifest {str(r['manifest_sha256'])[:12]}; "
              f"{r['seconds']:.0f} s; peak worker {r['peak_worker_rss_mb']:.0f} MB, runner {r['peak_runner_rss_mb']:.0f} MB, "
              f"tree {r['peak_tree_rss_mb']:.0f} MB", flush=True)
        if not holds:
            print(r["output_tail"], flush=True)
    ok = all(r["returncode"] == 0 and (r["accounting"] or {}).get("holds") for r in results) and len(hashes) == 1
    print(f"[stress] {runs} runs at {copies}x: {'every run held the identity, one manifest hash' if ok else 'FAILED'}",
          flush=True)
    return {"vocab": vocab, "runs": results, "distinct_manifests": len(hashes), "ok": ok, "flags": flags}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(prog="python -m bench.bench_scale", description=__doc__.split("\n")[0])
    p.add_argument("mode", choices=("scale", "stress"))
    p.add_argument("--sizes", default="1,2,4,8", help="scale: copies per build (default 1,2,4,8)")
    p.add_argument("--runs", type=int, default=5, help="stress: how many builds (default 5)")
    p.add_argument("--copies", type=int, default=8, help="stress: copies per build (default 8)")
    p.add_argument("--workdir", help="keep inputs and outputs here (default: a temporary folder, removed)")
    p.add_argument("--flags", default="", help="Beam flags for every build, space-separated "
                   "(default: none, i.e. the default local runner)")
    a = p.parse_args(argv)
    workdir = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix=f"longlm-{a.mode}-"))
    try:
        if a.mode == "scale":
            return scale(sorted(int(x) for x in a.sizes.split(",")), workdir, a.flags.split())
        return stress(a.runs, a.copies, workdir, a.flags.split())
    finally:
        if not a.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    result = main()
    sys.exit(0 if result.get("ok", True) else 1)
