"""Partial uploads on the real corpus (../shared/corpus; skipped when absent): containment measured.

A partial upload is a novel's opening cut at a chapter boundary at 1/3, 1/2 or 2/3 of its length,
from the same text or from another edition (editions/ holds early OCRs and a printed edition of
三国演义, 水浒传, 西游记, 红楼梦). Each must reach the default ``containment_threshold`` in the full
novel, on exact shingle sets and through the stage's pure functions (containment LSH bands, the
signature estimate with its slack, the exact check). Unrelated novels must stay far below it: the
78 novels are compared pairwise, "unrelated" meaning that fewer than 1% of 40-character windows of
the shorter occur verbatim in the longer (collections that reprint a story, 庐隐文集 holding 海滨故人,
are related, and are rightly "contained"). The figures are printed (pytest -s).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from transforms.cleaning.headings import is_chapter_heading
from transforms.dedupe.config import DedupeConfig
from transforms.dedupe.keytext import key_text, make_converter
from transforms.dedupe.lsh import (
    CandidateEdges,
    classified_bucket_edges,
)
from transforms.dedupe.minhash import permutations, shingle_hashes, sig_to_bytes, signature, unique_hashes
from transforms.ingest.encoding import decode_bytes

pytestmark = pytest.mark.shared_corpus

CFG = DedupeConfig()
CUTS = (1 / 3, 1 / 2, 2 / 3)


def containment(small: np.ndarray, large: np.ndarray) -> float:
    """|small ∩ large| / |small| of two sorted unique hash arrays (an independent count: searchsorted)."""
    i = np.searchsorted(large, small)
    i[i >= large.size] = 0
    return float(np.count_nonzero(large[i] == small)) / small.size


def chapter_prefix(text: str, share: float) -> str:
    """`text` up to the chapter heading nearest to `share` of its length."""
    starts, offset = [], 0
    for line in text.split("\n"):
        if is_chapter_heading(line):
            starts.append(offset)
        offset += len(line) + 1
    target = share * len(text)
    return text[: min(starts, key=lambda p: abs(p - target))]


class Shingler:
    def __init__(self):
        self.conv, self.perms = make_converter(), permutations(CFG.num_perm, CFG.minhash_seed)

    def __call__(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        hashes = shingle_hashes(key_text(text, self.conv), CFG.ngram)
        return signature(hashes, self.perms), unique_hashes(hashes)


@pytest.fixture(scope="module")
def shingler():
    return Shingler()


@pytest.fixture(scope="module")
def novels(shared_corpus: Path) -> dict[str, str]:
    return {p.stem: decode_bytes(p.read_bytes()).text for p in sorted((shared_corpus / "novels").glob("*.txt"))}


def test_partial_uploads_from_the_same_and_another_edition_are_contained(shared_corpus, novels, shingler, capsys):
    lsh = CandidateEdges(CFG)  # the stage's bands, rows and verifier
    lines, worst = [], 1.0
    for path in sorted((shared_corpus / "editions").glob("*.txt")):
        title = path.stem.split("-", 2)[2]
        full_sig, full_set = shingler(novels[title])
        sources = {"same text": novels[title], f"edition {path.stem}": decode_bytes(path.read_bytes()).text}
        for source, text in sources.items():
            for share in CUTS:
                prefix_sig, prefix_set = shingler(chapter_prefix(text, share))
                c = containment(prefix_set, full_set)
                lines.append(f"{title} prefix {share:.2f} of {source}: containment {c:.3f}")
                worst = min(worst, c)
                assert c >= CFG.containment_threshold, lines[-1]
                # the stage's way: a shared containment band, the estimate (with slack), then the exact sets
                keys = set(lsh_keys(lsh, prefix_sig)) & set(lsh_keys(lsh, full_sig))
                assert keys, f"not an LSH candidate: {lines[-1]}"
                members = [("full", sig_to_bytes(full_sig), full_set.size), ("part", sig_to_bytes(prefix_sig), prefix_set.size)]
                sure, check, _ = classified_bucket_edges(members, lsh.verifier, CFG.max_bucket_size)
                assert sure + check == [("full", "part")], lines[-1]
                assert lsh.verifier.passes_exact(prefix_set, full_set), lines[-1]
    with capsys.disabled():
        print("\n" + "\n".join(lines) + f"\nlowest: {worst:.3f} (containment_threshold {CFG.containment_threshold})")


def lsh_keys(lsh: CandidateEdges, sig: np.ndarray) -> list[bytes]:
    from transforms.dedupe.lsh import CONTAINMENT_NS, JACCARD_NS, band_keys

    return band_keys(sig, lsh.bands, lsh.rows, JACCARD_NS) + band_keys(sig, lsh.c_bands, lsh.c_rows, CONTAINMENT_NS)


def _verbatim_share(small: str, large: str) -> float:
    windows = [small[i : i + 40] for i in range(0, max(1, len(small) - 40), 500)]
    return sum(w in large for w in windows) / len(windows)


def test_unrelated_novels_stay_far_below_the_containment_threshold(novels, shingler, capsys):
    keys = {t: key_text(text, shingler.conv) for t, text in novels.items()}
    sets = {t: unique_hashes(shingle_hashes(k, CFG.ngram)) for t, k in keys.items()}
    scored = []
    for a, b in itertools.combinations(sorted(sets), 2):
        small, large = sorted((a, b), key=lambda t: (sets[t].size, t))
        scored.append((containment(sets[small], sets[large]), small, large))
    scored.sort(reverse=True)
    related, unrelated = [], None
    for c, small, large in scored:
        if _verbatim_share(keys[small], keys[large]) >= 0.01:
            related.append(f"{small} in {large}: {c:.3f}")
            continue
        unrelated = (c, small, large)
        break
    with capsys.disabled():
        print(f"\nrelated pairs above it (shared verbatim text): {related}")
        print(f"most similar unrelated pair: {unrelated[1]} in {unrelated[2]}: containment {unrelated[0]:.3f}")
    assert unrelated[0] < CFG.containment_threshold / 4
    assert len(scored) == 78 * 77 // 2
