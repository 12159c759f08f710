"""Incremental version vs full build: `python -m bench.bench_increment [--repeats N] [--novels DIR]`.

Splits the shared novels (sorted by name) into two halves: the base is built from one half, then
timed, each `--repeats` times and interleaved: the increment (`longlm build --base BASE` over the
other half) and a full build over all novels with the base's vocabulary (so neither trains one).
Prints the medians, their ratio, and whether the chain's effective corpus (base + increment kept,
minus what the increment superseded) keeps exactly the documents the full build keeps. Both runs use the default local runner; wall seconds include Beam's start-up.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

NOVELS = Path(__file__).resolve().parents[2] / "shared" / "corpus" / "novels"


def longlm(*args: str) -> float:
    """Wall seconds of one `longlm` command in a fresh process (fails loudly)."""
    started = time.time()
    subprocess.run([sys.executable, "-m", "pipelines.cli", *args, "--quiet"], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.time() - started


def kept_ids(out: Path, table: str = "documents") -> set[str]:
    return {r for p in sorted((out / table).glob("*.parquet"))
            for r in pq.read_table(p, columns=["doc_id"]).column("doc_id").to_pylist()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--novels", default=str(NOVELS), help="folder of .txt novels (default ../shared/corpus/novels)")
    p.add_argument("--repeats", type=int, default=1, help="timed runs of each build (median reported)")
    a = p.parse_args(argv)
    novels = sorted(Path(a.novels).glob("*.txt"))
    if not novels:
        print(f"no novels in {a.novels}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="longlm-incr-") as tmp:
        t = Path(tmp)
        halves = {"base-raw": novels[::2], "new-raw": novels[1::2], "all-raw": novels}
        for name, files in halves.items():
            (t / name).mkdir()
            for f in files:
                (t / name / f.name).symlink_to(f)
        base_s = longlm("build", "--input", f"{t}/base-raw/*", "--output", str(t / "base"))
        vocab = str(t / "base" / "vocab" / "spiece.model")
        runs = {"increment": [], "full": []}
        for i in range(a.repeats):
            runs["increment"].append(longlm("build", "--input", f"{t}/new-raw/*", "--output", str(t / f"v2-{i}"),
                                            "--base", str(t / "base")))
            runs["full"].append(longlm("build", "--input", f"{t}/all-raw/*", "--output", str(t / f"full-{i}"),
                                       "--vocab", vocab))
        mb = {k: round(sum(f.stat().st_size for f in v) / 1e6, 1) for k, v in halves.items()}
        inc, full = statistics.median(runs["increment"]), statistics.median(runs["full"])
        effective = (kept_ids(t / "base") | kept_ids(t / "v2-0")) - kept_ids(t / "v2-0", "superseded")
        union_equal = effective == kept_ids(t / "full-0")
        result = {
            "novels": {"base": len(halves["base-raw"]), "increment": len(halves["new-raw"]), "all": len(novels)},
            "mb": {"base": mb["base-raw"], "increment": mb["new-raw"], "all": mb["all-raw"]},
            "base_build_s (vocab trained)": round(base_s, 1),
            "increment_s": round(inc, 1), "full_s (vocab reused)": round(full, 1),
            "increment_over_full": round(inc / full, 3), "runs": runs,
            "chain_effective_kept_equals_full": union_equal,
        }
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
