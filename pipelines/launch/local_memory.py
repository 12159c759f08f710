"""Memory of a local build: estimated from the input size before it starts, measured after it ends.

The local runner spills what crosses a stage boundary to temporary files (:mod:`pipelines.launch.spill_buffers`)
and runs each stage as bounded bundles, and the shard writers stage their batches as files, so the
peak grows only slowly with the input. The coefficients below are fitted on the scale bench and a
1 GB build (bench/README.md, "Scale", in-process): peak RSS of the whole process tree ~ BASE_MB +
PER_INPUT_MB x input MB. Cluster runners are not estimated: their memory is per worker and set by
the shard counts (docs/cluster.md, "Knobs that matter at 100+ GB").
"""

from __future__ import annotations

import os
import resource
import sys

#: Fitted on the scale bench (see module doc), rounded up.
BASE_MB = 1100.0
PER_INPUT_MB = 0.25
#: Warn when the estimate exceeds this share of the machine's memory.
WARN_SHARE = 0.8


def estimate_peak_mb(input_mb: float) -> float:
    """Expected peak RSS (MB) of a local build's whole process tree for `input_mb` MB of raw input."""
    return BASE_MB + PER_INPUT_MB * max(0.0, input_mb)


def machine_memory_mb() -> float | None:
    """Physical memory of this machine in MB, or None where the OS does not say."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e6
    except (ValueError, OSError, AttributeError):
        return None


def memory_warning(input_mb: float, machine_mb: float | None = None) -> str | None:
    """A warning naming the way out when the estimated peak would not fit this machine, else None."""
    machine_mb = machine_memory_mb() if machine_mb is None else machine_mb
    need = estimate_peak_mb(input_mb)
    if machine_mb is None or need <= WARN_SHARE * machine_mb:
        return None
    return (f"this local build of {input_mb:,.0f} MB may need ~{need / 1000:,.1f} GB of memory at its peak; the machine "
            f"has {machine_mb / 1000:,.1f} GB. Run it on a cluster runner (--runner DataflowRunner / SparkRunner / "
            "FlinkRunner, docs/cluster.md), or build the input in increments with --base")


def _maxrss_mb(who: int) -> float:
    rss = resource.getrusage(who).ru_maxrss
    return rss / 1e6 if sys.platform == "darwin" else rss * 1024 / 1e6  # bytes on macOS, KiB on Linux


def measured_peaks_mb() -> dict:
    """Peak RSS (MB) of this process (the local runner) and of its largest finished child (an SDK worker)."""
    child = _maxrss_mb(resource.RUSAGE_CHILDREN)
    return {"runner": round(_maxrss_mb(resource.RUSAGE_SELF), 1), "largest_worker": round(child, 1) if child else None}
