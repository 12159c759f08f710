"""Shared bench machinery: machine info, repeats and medians, process-tree CPU/RSS, the bench corpus.

Everything here is measurement plumbing; nothing imports the stages. Conventions used by every bench
in `python -m bench`:

* A figure is measured ``repeats`` times; results.json keeps ``{"median": m, "runs": [...]}`` and the
  table prints the median. Ratios are computed per repeat (both sides measured back to back) and
  their median is reported, so a load spike hits both sides of a ratio alike.
* "Per core" throughput is given two ways: per wall second per worker (what a cluster bills), and
  per CPU second of the whole process tree (robust to other jobs on a shared machine).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import resource
import shutil
import statistics
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

CORPUS_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "corpus"
NOVELS = CORPUS_ROOT / "novels"
#: Packages whose versions go into results.json.
PACKAGES = ("apache-beam", "pyarrow", "numpy", "torch", "transformers", "sentencepiece", "jieba", "datasketch",
            "OpenCC", "regex", "psutil")
#: Generated documents average ~22 KB (pipelines.corpus.sample.generate at default settings).
GENERATED_DOC_MB = 0.0224


# --------------------------------------------------------------------------------------------- machine
def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parents[1],
                             capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info() -> dict:
    """Host, CPU, memory, load, Python and package versions, git commit: the context of every figure."""
    import psutil

    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "packages": versions,
        "git_commit": _git_commit(),
    }


# --------------------------------------------------------------------------------------------- repeats
def median(values) -> float:
    """Median of a non-empty sequence of numbers."""
    return float(statistics.median(values))


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def combine_runs(runs: list[dict]) -> dict:
    """Figures of several repeats -> one dict: numbers become {"median", "runs"}; nested dicts are
    combined key by key; anything else (text, lists, booleans) is taken from the first run, or kept
    as a list of the distinct values when the runs disagree."""
    out: dict = {}
    for key in runs[0]:
        values = [r[key] for r in runs if key in r]
        if all(is_number(v) for v in values):
            out[key] = {"median": median(values), "runs": values}
        elif all(isinstance(v, dict) for v in values):
            out[key] = combine_runs(values)
        else:
            distinct = [v for i, v in enumerate(values) if v not in values[:i]]
            out[key] = distinct[0] if len(distinct) == 1 else distinct
    return out


def med(figures: dict, *path: str):
    """The median of a combined figure (or the plain value), following `path`; None when absent."""
    node = figures
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    if isinstance(node, dict) and "median" in node:
        return node["median"]
    return node


@dataclass
class Timed:
    """Wall and CPU seconds of a call in this process, and its result."""

    wall_s: float
    cpu_s: float
    result: object = None


def timed(fn: Callable, *args, **kwargs) -> Timed:
    """Run fn(*args, **kwargs); wall (perf_counter) and CPU (process_time, all threads) seconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    result = fn(*args, **kwargs)
    return Timed(time.perf_counter() - w0, time.process_time() - c0, result)


# --------------------------------------------------------------------------------------------- processes
def run_measured(cmd: list[str], interval: float = 0.1, env: dict | None = None, cwd: str | None = None) -> dict:
    """Run `cmd` to completion; wall seconds, CPU seconds and peak RSS of its whole process tree.

    The tree (the command and every descendant, e.g. the FnApiRunner's SDK worker processes) is
    sampled every `interval` seconds with psutil: ``peak_tree_rss_mb`` is the largest sum of RSS over
    the tree at one sample, ``peak_process_rss_mb`` the largest single process, ``peak_root_rss_mb``
    and ``root_cpu_s`` those of the command's own process (sampled), ``peak_child_rss_mb`` the largest
    descendant (for a local build: the largest SDK worker process). CPU is the larger of
    getrusage(RUSAGE_CHILDREN) before/after (exact for every descendant that was waited for) and
    the sum of the last sampled CPU times per process (covers any that were not).
    """
    import psutil

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    output: list[bytes] = []
    reader = threading.Thread(target=lambda: output.append(proc.stdout.read()), daemon=True)
    reader.start()
    cpu: dict[int, float] = {}
    peak_tree = peak_proc = peak_root = peak_child = 0
    while proc.poll() is None:
        total = 0
        try:
            members = [proc] + proc.children(recursive=True)
        except psutil.Error:
            members = [proc]
        for member in members:
            try:
                with member.oneshot():
                    times, rss = member.cpu_times(), member.memory_info().rss
            except psutil.Error:
                continue
            cpu[member.pid] = times.user + times.system
            total += rss
            peak_proc = max(peak_proc, rss)
            if member.pid == proc.pid:
                peak_root = max(peak_root, rss)
            else:
                peak_child = max(peak_child, rss)
        peak_tree = max(peak_tree, total)
        time.sleep(interval)
    wall = time.perf_counter() - w0
    reader.join(timeout=10)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    rusage_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {
        "returncode": proc.returncode,
        "wall_s": wall,
        "cpu_s": max(rusage_cpu, sum(cpu.values())),
        "root_cpu_s": cpu.get(proc.pid, 0.0),
        "processes": len(cpu),
        "peak_tree_rss_mb": peak_tree / 1e6,
        "peak_process_rss_mb": peak_proc / 1e6,
        "peak_root_rss_mb": peak_root / 1e6,
        "peak_child_rss_mb": peak_child / 1e6,
        "output_tail": b"".join(output).decode("utf-8", "replace")[-3000:],
    }


# --------------------------------------------------------------------------------------------- corpus
@dataclass
class BenchCorpus:
    """The bench corpus: `groups` disjoint lists of input files of about equal size. Size kx = the
    first k groups, so every size is distinct text (nothing for dedupe to collapse that is not in
    the source itself)."""

    description: str
    groups: list[list[Path]]

    def files(self, k: int) -> list[Path]:
        return [f for group in self.groups[:k] for f in group]

    def mb(self, k: int) -> float:
        return sum(f.stat().st_size for f in self.files(k)) / 1e6

    def materialize(self, k: int, directory: Path) -> str:
        """Symlink the first k groups' files into `directory` (fresh); returns the input glob."""
        if directory.exists():
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        for f in self.files(k):
            (directory / f.name).symlink_to(f.resolve())
        return str(directory / "*")


def balanced_groups(paths: list[Path], groups: int) -> list[list[Path]]:
    """Partition files into `groups` lists of about equal total size: largest file first, each into
    the lightest group so far (ties: lowest index). Deterministic; files sorted by name in a group."""
    sized = sorted(paths, key=lambda p: (-p.stat().st_size, p.name))
    bins: list[list[Path]] = [[] for _ in range(groups)]
    totals = [0] * groups
    for path in sized:
        i = min(range(groups), key=lambda j: (totals[j], j))
        bins[i].append(path)
        totals[i] += path.stat().st_size
    return [sorted(b, key=lambda p: p.name) for b in bins]


def novels_corpus(groups: int) -> BenchCorpus | None:
    """The shared novels split into `groups` balanced groups; None when the folder is absent."""
    paths = sorted(NOVELS.glob("*.txt")) if NOVELS.is_dir() else []
    if len(paths) < groups:
        return None
    total = sum(p.stat().st_size for p in paths) / 1e6
    return BenchCorpus(f"{NOVELS} ({len(paths)} novels, {total:.1f} MB) in {groups} balanced groups", 
                       balanced_groups(paths, groups))


def generated_corpus(groups: int, group_mb: float, directory: Path, seed: int = 1000) -> BenchCorpus:
    """`groups` corpora from pipelines.corpus.sample.generate (novel-like text with planted duplicates,
    junk and bad inputs), one seed each (so distinct lexicons: no text shared between groups), about
    `group_mb` MB each, written under `directory`."""
    from pipelines.corpus.sample import generate

    out = []
    docs = max(8, round(group_mb / GENERATED_DOC_MB))
    for g in range(groups):
        files, _ = generate(docs=docs, seed=seed + g)
        gdir = directory / f"group{g}"
        gdir.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, data in sorted(files.items()):
            path = gdir / f"g{g}-{name}"
            path.write_bytes(data)
            paths.append(path)
        out.append(paths)
    mb = sum(p.stat().st_size for g in out for p in g) / 1e6
    return BenchCorpus(f"generated (pipelines.corpus.sample, {groups} seeds, {mb:.1f} MB)", out)


def fingerprint(paths: list[Path]) -> str:
    """Short blake2b of the names and sizes of `paths` (identifies the slice in results.json)."""
    h = hashlib.blake2b(digest_size=8)
    for p in paths:
        h.update(f"{p.name}\0{p.stat().st_size}\n".encode())
    return h.hexdigest()
