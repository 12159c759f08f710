"""Locality-sensitive hashing of MinHash signatures: band keys, buckets, verified candidate edges.

A signature is cut into ``bands`` x ``rows`` (chosen by datasketch's ``_optimal_param`` from the
threshold and the false-positive/negative weights). Documents sharing any band key land in the same
bucket; every pair in a bucket is a candidate, verified by the signature-estimated Jaccard (or, in
containment mode, the estimated containment of the smaller set in the larger). The same pair found
in several buckets verifies identically, so edges are deduplicated afterwards.

Buckets larger than ``max_bucket_size`` verify each member against the bucket's smallest doc_id
only (a star, linear instead of quadratic) and are counted in ``dedupe.large_buckets``. They are
never materialized: bucket sizes come from a lifted count, and a large bucket's members meet its
head through side inputs holding one entry per large bucket, so a boilerplate-like band shared by a
million documents costs no worker a million-member list.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Iterable, Iterator, NamedTuple

import apache_beam as beam
import numpy as np

from schemas.hashing import stable_digest
from transforms.dedupe.minhash import (
    estimated_containment,
    estimated_jaccard,
    sig_from_bytes,
)
from transforms.stats import STATS, stat

JACCARD_NS = b"j"
MEASURED = "measured"
CONTAINMENT_NS = b"c"


def lsh_params(threshold: float, num_perm: int, fp_weight: float, fn_weight: float) -> tuple[int, int]:
    """(bands, rows) minimising the weighted false positive/negative probability (datasketch's choice)."""
    from datasketch.lsh import _optimal_param

    bands, rows = _optimal_param(threshold, num_perm, fp_weight, fn_weight)
    return int(bands), int(rows)


def containment_jaccard_floor(containment: float, min_ratio: float) -> float:
    """Smallest Jaccard of two sets where the smaller (|S| = min_ratio |L|) has `containment` of it in L."""
    inter = containment * min_ratio
    return inter / (1.0 + min_ratio - inter)


def band_keys(sig: np.ndarray, bands: int, rows: int, namespace: bytes = JACCARD_NS) -> list[bytes]:
    """One bucket key per band: namespace + band index + 64-bit stable hash of the band's values."""
    data = np.asarray(sig, dtype="<u4")
    keys = []
    for i in range(bands):
        digest = stable_digest(data[i * rows : (i + 1) * rows].tobytes(), bits=64)
        keys.append(namespace + struct.pack(">H", i) + digest)
    return keys


@dataclass(frozen=True)
class Verifier:
    """The pair test: estimated Jaccard >= threshold, or (containment mode) estimated containment of
    the smaller set >= containment_threshold. `slack` lowers the Jaccard bar when `exact_all` (every
    candidate is then confirmed on exact sets); `containment_slack` lowers the containment bar, and a
    pair that passes by containment only is always confirmed on exact sets."""

    threshold: float
    containment: bool = False
    containment_threshold: float = 1.0
    slack: float = 0.0
    containment_slack: float = 0.0
    exact_all: bool = False
    containment_max_ratio: float = 1.0

    def estimate(self, sig_a, sig_b, size_a: int, size_b: int) -> tuple[float, float]:
        """(estimated Jaccard, estimated containment of the smaller set or 0.0 when not in that mode)."""
        j = estimated_jaccard(sig_a, sig_b)
        if not self.containment:
            return j, 0.0
        small, large = sorted((size_a, size_b))
        if small > self.containment_max_ratio * large:
            return j, 0.0  # about equal sizes: Jaccard decides
        return j, estimated_containment(j, small, large)

    def verdict(self, jaccard: float, containment: float) -> str | None:
        """None (rejected), SURE (an edge) or CHECK (an edge if its exact shingle sets pass)."""
        if jaccard >= self.threshold - self.slack:
            return CHECK if self.exact_all else SURE
        if self.containment and containment >= self.containment_threshold - self.containment_slack:
            return CHECK
        return None

    def passes(self, jaccard: float, containment: float) -> bool:
        """Does a pair with these similarities pass (with slack)?"""
        return self.verdict(jaccard, containment) is not None

    def exact_measures(self, set_a: np.ndarray, set_b: np.ndarray) -> tuple[float, float]:
        """(exact Jaccard, exact containment of the smaller set in the larger) of sorted unique hash arrays."""
        if set_a.size == 0 or set_b.size == 0:
            return 0.0, 0.0
        inter = np.intersect1d(set_a, set_b, assume_unique=True).size
        return inter / float(set_a.size + set_b.size - inter), inter / float(min(set_a.size, set_b.size))

    def passes_exact(self, set_a: np.ndarray, set_b: np.ndarray) -> bool:
        """The same test on exact shingle sets (sorted unique hash arrays), with no slack."""
        j, c = self.exact_measures(set_a, set_b)
        return j >= self.threshold or (self.containment and c >= self.containment_threshold and self._unequal(set_a, set_b))

    def _unequal(self, set_a: np.ndarray, set_b: np.ndarray) -> bool:
        small, large = sorted((set_a.size, set_b.size))
        return small <= self.containment_max_ratio * large


SURE = "sure"
CHECK = "check"


def bucket_pairs(members: list[tuple], max_bucket_size: int) -> Iterator[tuple[tuple, tuple]]:
    """Candidate pairs of a bucket's members (sorted by doc_id, first element): all pairs, or a star
    around the first member when there are more than `max_bucket_size`."""
    if len(members) > max_bucket_size:
        for other in members[1:]:
            yield members[0], other
        return
    for i, a in enumerate(members):
        for b in members[i + 1 :]:
            yield a, b


def classified_bucket_edges(
    members: Iterable[tuple[str, bytes, int]], verifier: Verifier, max_bucket_size: int
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], int]:
    """(sure edges, edges to check on exact sets, pairs checked) among (doc_id, signature bytes, set
    size) bucket members; every edge (a, b) has a < b."""
    uniq = sorted({m[0]: m for m in members}.values())
    sure, check, checked = [], [], 0
    for (id_a, sig_a, size_a), (id_b, sig_b, size_b) in bucket_pairs(uniq, max_bucket_size):
        checked += 1
        verdict = verifier.verdict(*verifier.estimate(sig_from_bytes(sig_a), sig_from_bytes(sig_b), size_a, size_b))
        if verdict == SURE:
            sure.append((id_a, id_b))
        elif verdict == CHECK:
            check.append((id_a, id_b))
    return sure, check, checked


class _BandKeys(beam.DoFn):
    """(doc_id, signature bytes, set size) -> (band key, same) for each Jaccard (and containment) band."""

    def __init__(self, bands: int, rows: int, c_bands: int, c_rows: int):
        self.bands, self.rows, self.c_bands, self.c_rows = bands, rows, c_bands, c_rows

    def process(self, rep):
        sig = sig_from_bytes(rep[1])
        keys = band_keys(sig, self.bands, self.rows, JACCARD_NS)
        if self.c_bands:
            keys += band_keys(sig, self.c_bands, self.c_rows, CONTAINMENT_NS)
        for key in keys:
            yield (key, rep)


class _VerifyBucket(beam.DoFn):
    def __init__(self, verifier: Verifier, max_bucket_size: int):
        self.verifier = verifier
        self.max_bucket_size = max_bucket_size

    def process(self, element):
        _, members = element
        members = list(members)
        if len(members) < 2:
            return
        sure, check, checked = classified_bucket_edges(members, self.verifier, self.max_bucket_size)
        yield stat("dedupe.lsh_pair_checks", checked)
        yield from sure
        for edge in check:
            yield beam.pvalue.TaggedOutput(CHECK, edge)


class _ExactCheck(beam.DoFn):
    """Second half of the exact-Jaccard join: (b, {"set": [set_b], "edge": [(a, set_a)]}) -> edges."""

    def __init__(self, verifier: Verifier):
        self.verifier = verifier

    def process(self, element):
        b, grouped = element
        sets = list(grouped["set"])
        if not sets:  # cannot happen: every signed document emits its set; counted, not hidden
            yield stat("dedupe.exact_check_missing_set", len(list(grouped["edge"])))
            return
        set_b = np.frombuffer(sets[0], dtype="<u4")
        for a, set_a in sorted(grouped["edge"]):
            set_a = np.frombuffer(set_a, dtype="<u4")
            _, c = self.verifier.exact_measures(set_a, set_b)
            if self.verifier.passes_exact(set_a, set_b):
                yield (a, b)
                if self.verifier.containment:  # (shorter doc, (longer doc, its exact containment))
                    small, large = (a, b) if (set_a.size, a) < (set_b.size, b) else (b, a)
                    yield beam.pvalue.TaggedOutput(MEASURED, (small, (large, c)))
            else:
                yield stat("dedupe.exact_check_rejected")


def _attach_first_set(element):
    a, grouped = element
    sets = list(grouped["set"])
    if not sets:  # cannot happen (see _ExactCheck); counted, not hidden
        yield stat("dedupe.exact_check_missing_set", len(list(grouped["edge"])))
        return
    for b in sorted(grouped["edge"]):
        yield (b, (a, sets[0]))


def _count(name: str):
    def emit(element):
        yield element
        yield stat(name)

    return emit


LARGE = "large"


@beam.typehints.with_output_types(beam.typehints.Tuple[bytes, beam.typehints.Any])
class _BySize(beam.DoFn):
    """(band key, member) -> main output for buckets within the limit, LARGE for those over it."""

    def process(self, element, large):
        if element[0] in large:
            yield beam.pvalue.TaggedOutput(LARGE, element)
        else:
            yield element


class _VerifyAgainstHead(beam.DoFn):
    """(band key, member) of a large bucket -> its edge with the bucket's head (smallest doc_id), if any:
    the same star :func:`bucket_pairs` makes of a bucket over ``max_bucket_size``."""

    def __init__(self, verifier: Verifier):
        self.verifier = verifier

    def process(self, element, heads):
        key, member = element
        head = heads[key]
        if member[0] == head[0]:
            return
        sure, check, checked = classified_bucket_edges([head, member], self.verifier, 1)
        yield stat("dedupe.lsh_pair_checks", checked)
        yield from sure
        for edge in check:
            yield beam.pvalue.TaggedOutput(CHECK, edge)


class LshResult(NamedTuple):
    """What :class:`CandidateEdges` returns."""

    edges: beam.PCollection  # (a, b), a < b, distinct
    stats: beam.PCollection  # (counter name, int)
    measured: beam.PCollection  # (shorter doc_id, (longer doc_id, exact containment)) of exactly checked edges


class CandidateEdges(beam.PTransform):
    """PCollection[(doc_id, signature bytes, set size)] -> LshResult(edges, stats, measured).

    `sets_for(ids)` is needed when `cfg.verify_exact_jaccard` or `cfg.containment` is on: candidates
    that pass by containment only (and with verify_exact_jaccard every candidate) are confirmed on
    their exact shingle sets; `sets_for` maps the PCollection of the doc_ids in such pairs to
    PCollection[(doc_id, sorted unique shingle hashes as bytes)] of those documents.
    """

    def __init__(self, cfg, sets_for=None):
        super().__init__()
        self.cfg = cfg
        self.sets_for = sets_for
        self.bands, self.rows = lsh_params(
            cfg.threshold, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight
        )
        self.c_bands = self.c_rows = 0
        if cfg.containment:
            floor = containment_jaccard_floor(cfg.containment_threshold, cfg.containment_min_ratio)
            self.c_bands, self.c_rows = lsh_params(
                floor, cfg.num_perm, cfg.false_positive_weight, cfg.false_negative_weight
            )
        self.verifier = Verifier(
            threshold=cfg.threshold,
            containment=cfg.containment,
            containment_threshold=cfg.containment_threshold,
            slack=cfg.exact_verify_slack if cfg.verify_exact_jaccard else 0.0,
            containment_slack=cfg.containment_verify_slack if cfg.containment else 0.0,
            exact_all=cfg.verify_exact_jaccard,
            containment_max_ratio=cfg.containment_max_ratio,
        )

    def expand(self, reps):
        limit = self.cfg.max_bucket_size
        keyed = reps | "BandKeys" >> beam.ParDo(_BandKeys(self.bands, self.rows, self.c_bands, self.c_rows))
        # A bucket over the limit is never materialized: its members meet their head (smallest doc_id)
        # through side inputs that hold one entry per large bucket, not through a GroupByKey.
        large = (
            keyed
            | "BucketSizes" >> beam.combiners.Count.PerKey()
            | "LargeBuckets" >> beam.Filter(lambda kv: kv[1] > limit)
        )
        split = keyed | "SplitBySize" >> beam.ParDo(_BySize(), beam.pvalue.AsDict(large)).with_outputs(LARGE, main="small")
        heads = split[LARGE] | "BucketHeads" >> beam.CombinePerKey(min)
        checked = (
            split.small
            | "Buckets" >> beam.GroupByKey()
            | "VerifyBuckets" >> beam.ParDo(_VerifyBucket(self.verifier, limit)).with_outputs(CHECK, STATS, main="edges")
        )
        starred = split[LARGE] | "VerifyAgainstHead" >> beam.ParDo(
            _VerifyAgainstHead(self.verifier), beam.pvalue.AsDict(heads)
        ).with_outputs(CHECK, STATS, main="edges")
        large_stats = large | "CountLargeBuckets" >> beam.Map(lambda _: stat("dedupe.large_buckets").value)
        edges = (checked.edges, starred.edges) | "BucketEdges" >> beam.Flatten() | "DistinctEdges" >> beam.Distinct()
        to_verify = (checked[CHECK], starred[CHECK]) | "BucketChecks" >> beam.Flatten()
        stats = [checked[STATS], starred[STATS], large_stats]
        if self.sets_for is not None and (self.cfg.verify_exact_jaccard or self.cfg.containment):
            to_check = to_verify | "DistinctChecks" >> beam.Distinct()
            needed = (
                to_check
                | "CheckedIds" >> beam.FlatMap(lambda edge: edge)
                | "DistinctCheckedIds" >> beam.Distinct()
            )
            exact, missing = self._exact_check(to_check, self.sets_for(needed))
            edges = (edges, exact.edges) | "SureAndChecked" >> beam.Flatten()
            stats += [exact[STATS], missing]
            measured = exact[MEASURED]
        else:  # no sets to check on: the estimate decides
            edges = (edges, to_verify | "DistinctUnchecked" >> beam.Distinct()) | "AllPassing" >> beam.Flatten()
            measured = reps.pipeline | "NoMeasures" >> beam.Create([])
        counted = edges | "CountEdges" >> beam.FlatMap(_count("dedupe.near_edges")).with_outputs(STATS, main="edges")
        stats.append(counted[STATS])
        return LshResult(counted.edges, stats | "FlattenLshStats" >> beam.Flatten(), measured)

    def _exact_check(self, edges, sets):
        first = (
            {"set": sets, "edge": edges}  # an edge (a, b) is already keyed by a
            | "JoinSetA" >> beam.CoGroupByKey()
            | "AttachSetA" >> beam.FlatMap(_attach_first_set).with_outputs(STATS, main="edges")
        )
        return (
            {"set": sets, "edge": first.edges}
            | "JoinSetB" >> beam.CoGroupByKey()
            | "ExactCheck" >> beam.ParDo(_ExactCheck(self.verifier)).with_outputs(MEASURED, STATS, main="edges")
        ), first[STATS]
