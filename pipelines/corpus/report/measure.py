"""Pure computations behind the report: the accounting funnel, summaries, token statistics, diffs.

No I/O and no plotting here: inputs are manifests, pyarrow tables and numpy arrays, outputs are plain
data, so each function is testable on hand-made values.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class FunnelRow:
    """One line of the funnel. `kind` is read/rejected/cleaning/filtered/duplicates/kept; None = unknown."""

    kind: str
    label: str
    documents: int | None
    chars: int | None


def _reason_counts(table: pa.Table | None, column: str, counters: dict[str, int], prefix: str) -> dict[str, int]:
    """Rows per reason from a table when it exists, else from counters named prefix + reason."""
    if table is not None:
        return dict(sorted(Counter(table.column(column).to_pylist()).items(), key=lambda kv: (-kv[1], str(kv[0]))))
    found = {k[len(prefix):]: int(v) for k, v in counters.items() if k.startswith(prefix)}
    return dict(sorted(found.items(), key=lambda kv: (-kv[1], kv[0])))


def _chars_by(table: pa.Table | None, key: str, value: str) -> dict[str, int]:
    if table is None or value not in table.column_names:
        return {}
    out: dict[str, int] = {}
    for k, v in zip(table.column(key).to_pylist(), table.column(value).to_pylist()):
        out[str(k)] = out.get(str(k), 0) + int(v or 0)
    return out


def _sum(table: pa.Table | None, name: str) -> int | None:
    if table is None or name not in table.column_names or table.column(name).null_count == len(table.column(name)):
        return None
    return int(pc.sum(table.column(name)).as_py() or 0)


def funnel(manifest: dict, kept: pa.Table | None, rejects: pa.Table | None, filtered: pa.Table | None,
           duplicates: pa.Table | None) -> list[FunnelRow]:
    """read -> rejected (by reason), removed by cleaning, filtered (by reason), duplicates (by kind) -> kept.

    Documents come from the manifest's accounting and the side tables (counters when a table is absent).
    Characters: kept and filtered documents are counted after cleaning, duplicates by their char_length,
    cleaning's removal as raw_char_length - char_length of kept and filtered documents, and "read" as
    the sum of those, so the character rows add up exactly. Rejected records have no decoded text.
    `kept` must hold every kept document's raw_char_length and char_length (a full column read).
    """
    acc, counters = manifest.get("accounting") or {}, manifest.get("counters") or {}
    kept_raw, kept_chars = _sum(kept, "raw_char_length"), _sum(kept, "char_length")
    cleaned = kept_chars is not None
    kept_final = kept_chars if cleaned else kept_raw
    rows = []
    for reason, n in _reason_counts(rejects, "reason", counters, "ingest.rejected.").items():
        rows.append(FunnelRow("rejected", f"rejected: {reason}", n, None))
    removed = None
    if cleaned and kept_raw is not None:
        filtered_removed = (_sum(filtered, "raw_char_length") or 0) - (_sum(filtered, "char_length") or 0)
        removed = kept_raw - kept_chars + filtered_removed
    rows.append(FunnelRow("cleaning", "removed by cleaning" + ("" if cleaned else " (not built)"), None, removed))
    f_chars = _chars_by(filtered, "reason", "char_length")
    for reason, n in _reason_counts(filtered, "reason", counters, "filter.filtered.").items():
        rows.append(FunnelRow("filtered", f"filtered: {reason}", n, f_chars.get(str(reason))))
    d_chars = _chars_by(duplicates, "kind", "char_length")
    for kind, n in _reason_counts(duplicates, "kind", {}, "").items():
        rows.append(FunnelRow("duplicates", f"duplicate: {kind}", n, d_chars.get(str(kind))))
    if duplicates is None and acc.get("duplicates"):
        rows.append(FunnelRow("duplicates", "duplicates", int(acc["duplicates"]), None))
    rows.append(FunnelRow("kept", "kept", int(acc.get("kept", 0)), kept_final))
    char_terms = [r.chars for r in rows if r.kind in ("cleaning", "filtered", "duplicates", "kept")]
    read_chars = sum(c for c in char_terms if c is not None) if kept_final is not None else None
    return [FunnelRow("read", "read", int(acc.get("read", 0)), read_chars)] + rows


@dataclass(frozen=True)
class Summary:
    count: int
    minimum: float
    median: float
    mean: float
    p90: float
    maximum: float


def summarize(values: np.ndarray | None) -> Summary | None:
    if values is None or len(values) == 0:
        return None
    v = np.asarray(values, dtype=np.float64)
    return Summary(len(v), float(v.min()), float(np.median(v)), float(v.mean()), float(np.percentile(v, 90)),
                   float(v.max()))


def cluster_sizes(duplicates: pa.Table, kept_docs: int) -> dict[int, int]:
    """Cluster size -> number of clusters. A cluster is one kept document plus its duplicates rows;
    kept documents without duplicates are clusters of size 1."""
    per_cluster = Counter(duplicates.column("cluster_id").to_pylist()) if duplicates.num_rows else Counter()
    sizes = Counter(n + 1 for n in per_cluster.values())
    singles = kept_docs - len(per_cluster)
    if singles > 0:
        sizes[1] += singles
    return dict(sorted(sizes.items()))


@dataclass
class TokenStats:
    """Per-example token counts of an EXAMPLES sample; `content` excludes sentinels, EOS and padding."""

    task: np.ndarray
    input_len: np.ndarray
    target_len: np.ndarray
    input_content: np.ndarray | None = None
    target_content: np.ndarray | None = None
    spans: dict[str, np.ndarray] = field(default_factory=dict)  # task -> span lengths (infilling)

    def of(self, task: str) -> "TokenStats":
        m = self.task == task
        pick = (lambda a: a[m] if a is not None else None)
        return TokenStats(self.task[m], self.input_len[m], self.target_len[m], pick(self.input_content),
                          pick(self.target_content), {task: self.spans[task]} if task in self.spans else {})

    @property
    def segment_len(self) -> np.ndarray | None:
        """Tokens of the source segment: content tokens of input plus target."""
        return None if self.input_content is None else self.input_content + self.target_content

    def mask_ratio(self) -> np.ndarray | None:
        """Per example: masked / (masked + unmasked) content tokens (infilling examples only)."""
        if self.input_content is None:
            return None
        total = self.input_content + self.target_content
        return np.divide(self.target_content, total, out=np.zeros(len(total)), where=total > 0)


def _list_parts(arr: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lengths per row, flattened values, row index of each value) of a list column."""
    a = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    lengths = pc.fill_null(pc.list_value_length(a), 0).to_numpy(zero_copy_only=False).astype(np.int64)
    flat = pc.list_flatten(a).to_numpy(zero_copy_only=False).astype(np.int64)
    parents = pc.list_parent_indices(a).to_numpy(zero_copy_only=False).astype(np.int64)
    return lengths, flat, parents


def _span_lengths(flat: np.ndarray, parents: np.ndarray, sentinel: np.ndarray, content: np.ndarray) -> np.ndarray:
    """Lengths of the runs of content tokens between sentinels, never crossing a row boundary."""
    if len(flat) == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.ones(len(flat), dtype=bool)
    starts[1:] = parents[1:] != parents[:-1]
    run_id = np.cumsum(sentinel | starts)
    _, counts = np.unique(run_id[content], return_counts=True)
    return counts.astype(np.int64)


def token_stats(table: pa.Table, n_pieces: int | None, special_ids: tuple[int, ...] = ()) -> TokenStats:
    """Token counts per example. With `n_pieces` (ids >= it are sentinels) and `special_ids` (EOS, pad)
    it also counts content tokens and the infilling span lengths; without a vocabulary it cannot."""
    task = np.array(table.column("task").to_pylist(), dtype=object)
    in_len, in_flat, in_par = _list_parts(table.column("input_ids"))
    tg_len, tg_flat, tg_par = _list_parts(table.column("target_ids"))
    stats = TokenStats(task, in_len, tg_len)
    if n_pieces is None:
        return stats
    specials = np.array(sorted(i for i in special_ids if i is not None and i >= 0), dtype=np.int64)
    n = len(task)

    def content(flat, parents):
        is_special = (flat >= n_pieces) | np.isin(flat, specials)
        return ~is_special, flat >= n_pieces, np.bincount(parents[~is_special], minlength=n)

    _, _, stats.input_content = content(in_flat, in_par)
    tg_content, tg_sentinel, stats.target_content = content(tg_flat, tg_par)
    infill_rows = np.flatnonzero(task == "infilling")
    if len(infill_rows):
        m = np.isin(tg_par, infill_rows)
        stats.spans["infilling"] = _span_lengths(tg_flat[m], tg_par[m], tg_sentinel[m], tg_content[m])
    return stats


def token_counts(table: pa.Table, n_pieces: int, special_ids: tuple[int, ...] = ()) -> np.ndarray:
    """How often each piece id (< n_pieces, not special) occurs in input_ids + target_ids."""
    counts = np.zeros(n_pieces, dtype=np.int64)
    for name in ("input_ids", "target_ids"):
        _, flat, _ = _list_parts(table.column(name))
        flat = flat[(flat >= 0) & (flat < n_pieces)]
        counts += np.bincount(flat, minlength=n_pieces)[:n_pieces]
    for i in special_ids:
        if i is not None and 0 <= i < n_pieces:
            counts[i] = 0
    return counts


def poisson_at_least_one_pmf(lam: float, lengths: np.ndarray) -> np.ndarray:
    """P(L = l), l >= 1, of L = max(1, Poisson(lam)): Poisson's mass at 0 moves to 1."""
    ls = np.asarray(lengths, dtype=np.int64)
    log_fact = np.array([math.lgamma(k + 1.0) for k in ls])
    pmf = np.exp(-lam + ls * math.log(lam) - log_fact) if lam > 0 else (ls == 0).astype(float)
    return np.where(ls == 1, pmf + math.exp(-lam), pmf)


def span_reference(distribution: str | None, mean: float, lengths: np.ndarray) -> tuple[str, np.ndarray]:
    """(label, pmf over `lengths`) of the configured span-length distribution: "poisson" is
    max(1, Poisson(mean)); anything else (T5's "t5_uniform", or none recorded) is geometric(mean)."""
    if distribution == "poisson":
        return f"max(1, Poisson({mean:g}))", poisson_at_least_one_pmf(mean, lengths)
    return f"geometric, mean {mean:g}", geometric_pmf(mean, lengths)


def geometric_pmf(mean: float, lengths: np.ndarray) -> np.ndarray:
    """P(L = l), l >= 1, of the geometric distribution with the given mean: the large-segment limit of
    splitting the masked tokens into round(masked / mean) spans uniformly at random (T5 span corruption)."""
    p = 1.0 / max(mean, 1.0)
    return p * (1.0 - p) ** (np.asarray(lengths, dtype=np.float64) - 1.0)


def flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists and scalars are leaves."""
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}.{k}" if prefix else str(k)
        out.update(flatten(v, key) if isinstance(v, dict) else {key: v})
    return out


def diff(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """(key, value in a, value in b) for every key whose values differ; a missing key reads as None."""
    return [(k, a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]


def lookup(config: dict, section: str, *names: str) -> Any:
    """The first of `names` present in config[section] (None when none is)."""
    table = config.get(section) or {}
    for name in names:
        if name in table:
            return table[name]
    return None
