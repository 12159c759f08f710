"""Which evaluation items a document contains, and which of its units (sentences) hold them.

Rules (knobs in :class:`DecontaminateConfig`; the measurements behind the defaults in bench/README.md):

1. An item *matches* a document when at least ``min_matched_ngrams`` of its distinct n-grams occur in the
   document's key text and, placing each at its first occurrence, they cover at least ``min_coverage``
   of the item's key characters (an edited character costs ~1 character, not n n-grams; a phrase
   repeated all over a novel counts once). Items with fewer than ``min_item_ngrams`` n-grams never reach
   the index, so outlines, titles and idioms cannot match.
2. Units are sentences (a line without sentence ends is one; an empty line is one). For a matching
   item, a key character is *covered* when a hit n-gram of that item contains it; a unit is *matched*
   when at least ``unit_coverage`` of its key characters are covered, or some are and at most n are
   not, or some are and its nearest non-empty neighbour is matched (a story's first or last sentence
   with edited characters in it).
3. Matched units join into a stretch across units holding at most ``gap_chars`` key characters; a
   stretch is removed when it holds at least ``min_region_ngrams`` hits of the item and at least
   ``min_region_share`` of its distinct n-gram count (a quoted sentence elsewhere stays); up to
   ``margin_lines`` short units (a title, '（完）') before and after it and the blank lines next to
   them go with it (default 0: a short line of the novel is never taken), and so do a punctuation-only
   line of at most 3 characters right after it (a wrapped story's '”') and the blank lines after that;
   a stretch that ends the text takes the line breaks before it instead.
4. Short units right before / after a stretch whose key text continues into the item's first / last
   2n key characters join it (a story's first or last line whose n-grams an edit broke).

The result keeps every character outside the removed units, byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.index import EvalIndex
from transforms.decontam.keys import ngram_hashes, text_key, unit_keys, units


@dataclass(frozen=True)
class Removal:
    """A removed stretch text[start:stop] of the input text, attributed to the item with the most hits in it."""

    start: int
    stop: int
    item: int  # item ordinal in the index
    matched_ngrams: int  # that item's hits (n-gram occurrences) in the stretch
    items_matched: int  # items whose stretches overlap this one, the attributed item included


@dataclass(frozen=True)
class Decontaminated:
    """The document's text with the removals applied, and the removals (sorted, disjoint)."""

    text: str
    removals: tuple[Removal, ...]
    items_matched: tuple[int, ...]  # every matching item ordinal, sorted

    @property
    def chars_removed(self) -> int:
        return sum(r.stop - r.start for r in self.removals)


def matching_items(positions: np.ndarray, items: np.ndarray, hashes: np.ndarray, index: EvalIndex,
                   cfg: DecontaminateConfig) -> np.ndarray:
    """Item ordinals (sorted) that match by rule 1, given the hits (positions, items) of n-gram `hashes`."""
    if items.size == 0:
        return np.empty(0, np.uint32)
    hs = hashes[positions]
    order = np.lexsort((positions, hs, items))
    it, hs, pos = items[order], hs[order], positions[order]
    first = np.ones(it.size, dtype=bool)
    first[1:] = (it[1:] != it[:-1]) | (hs[1:] != hs[:-1])
    it, pos = it[first], pos[first]  # each distinct n-gram of an item once, at its first position
    cand, starts, distinct = np.unique(it, return_index=True, return_counts=True)
    keep = distinct >= cfg.min_matched_ngrams
    found = []
    for item, a, k in zip(cand[keep].tolist(), starts[keep].tolist(), distinct[keep].tolist()):
        p = np.sort(pos[a:a + k])
        covered = int(np.minimum(np.diff(p), cfg.ngram).sum()) + cfg.ngram
        if covered >= cfg.min_coverage * int(index.item_chars[item]):
            found.append(item)
    return np.array(found, dtype=np.uint32)


def _stretches(matched: np.ndarray, key_len: np.ndarray, hits: np.ndarray, cfg: DecontaminateConfig):
    """(first unit, last unit, hits) of the stretches of rule 3 (before margins)."""
    out = []
    idx = np.flatnonzero(matched)
    if idx.size == 0:
        return out
    gap_keys = np.cumsum(key_len)
    first = last = int(idx[0])
    for u in idx[1:].tolist():
        between = int(gap_keys[u - 1] - gap_keys[last])
        if between <= cfg.gap_chars:
            last = u
        else:
            out.append((first, last))
            first = last = u
    out.append((first, last))
    csum = np.concatenate(([0], np.cumsum(hits)))
    return [(a, b, int(csum[b + 1] - csum[a])) for a, b in out]


def _unit_key(u: int, key: np.ndarray, starts: np.ndarray) -> str:
    return key[starts[u]:starts[u + 1]].tobytes().decode("utf-32-le")


def _near_substring(text: str, within: str) -> bool:
    """Does `text` occur in `within` with at most one differing character per 6 (none below 4 characters)?"""
    if text in within:
        return True
    size, allowed = len(text), len(text) // 6 if len(text) >= 4 else 0
    if not allowed or size > len(within):
        return False
    return any(sum(a != b for a, b in zip(text, within[i:i + size])) <= allowed
               for i in range(len(within) - size + 1))


def _with_edges(a: int, b: int, head: str, tail: str, key, starts, key_len) -> tuple[int, int]:
    """Stretch [a, b] widened over the units next to it whose key text (2+ characters together) continues into
    the item's first / last key characters, give or take an edited character: a story's first or last line
    whose n-grams an edit broke."""
    n = key_len.size
    for step, edge_text in ((-1, head), (1, tail)):
        u, ext = (a if step < 0 else b), ""
        last = u
        while True:
            u += step
            while 0 <= u < n and key_len[u] == 0:
                u += step
            if not (0 <= u < n):
                break
            k = _unit_key(u, key, starts)
            ext = k + ext if step < 0 else ext + k
            if len(ext) < 2:
                continue  # one character proves nothing: decided with the next unit
            if not _near_substring(ext, edge_text):
                break
            last = u
        if step < 0:
            a = last
        else:
            b = last
    return a, b


def _with_margins(a: int, b: int, key_len: np.ndarray, blank: np.ndarray, tail: np.ndarray,
                  cfg: DecontaminateConfig) -> tuple[int, int]:
    """Stretch [a, b] widened by rule 3's margins; `tail`: units of at most 3 characters and no key characters,
    taken right after the stretch (not past a blank line)."""
    n = key_len.size
    for step in (-1, 1):
        edge, taken, u = (a if step < 0 else b), 0, (a if step < 0 else b) + step
        while 0 <= u < n and taken < cfg.margin_lines:
            while 0 <= u < n and key_len[u] == 0:
                u += step
            if not (0 <= u < n) or key_len[u] > cfg.short_unit_chars:
                break
            edge, taken, u = u, taken + 1, u + step
        if step < 0:
            a = edge
        else:
            while edge + 1 < n and tail[edge + 1]:  # a wrapped story's last line: '”', '。'
                edge += 1
            while edge + 1 < n and blank[edge + 1]:  # the blank lines after the stretch
                edge += 1
            b = edge
    return a, b


def _grow(matched: np.ndarray, touched: np.ndarray, nonempty: np.ndarray) -> np.ndarray:
    """`matched` plus every touched unit (some key characters covered) whose nearest non-empty neighbour is
    matched, repeatedly: a story's first or last sentence that edits left mostly uncovered."""
    if not (touched & ~matched).any():
        return matched
    out = matched.copy()
    units = np.flatnonzero(nonempty).tolist()
    for order in (units, units[::-1]):
        prev = False
        for u in order:
            if not out[u] and touched[u] and prev:
                out[u] = True
            prev = bool(out[u])
    return out


def item_stretches(item: int, positions, items, key_unit, key_len, n_units: int, cfg: DecontaminateConfig,
                   item_ngrams: int):
    """(first unit, last unit, hits) of the stretches item `item` removes (rules 2 and 3)."""
    pos = positions[items == item]
    n, size = cfg.ngram, key_unit.size
    cover = np.zeros(size + 1, dtype=np.int32)
    np.add.at(cover, pos, 1)
    np.add.at(cover, np.minimum(pos + n, size), -1)
    covered = np.cumsum(cover[:size]) > 0
    covered_per_unit = np.bincount(key_unit[covered], minlength=n_units)
    uncovered = key_len - covered_per_unit
    matched = (key_len > 0) & ((covered_per_unit >= cfg.unit_coverage * key_len)
                               | ((covered_per_unit > 0) & (uncovered <= n)))
    matched = _grow(matched, covered_per_unit > 0, key_len > 0)
    hits = np.bincount(key_unit[pos], minlength=n_units)
    need = max(cfg.min_region_ngrams, cfg.min_region_share * item_ngrams)
    return [(a, b, h) for a, b, h in _stretches(matched, key_len, hits, cfg) if h >= need]


def decontaminate(text: str, index: EvalIndex, cfg: DecontaminateConfig, converter) -> Decontaminated:
    """`text` without the units that hold evaluation items (see the module docstring)."""
    hashes = ngram_hashes(text_key(text, converter), cfg.ngram)
    positions, items = index.lookup(hashes)
    found = matching_items(positions, items, hashes, index, cfg)
    if found.size == 0:
        return Decontaminated(text, (), ())
    # Only now, for the few documents that hold an item: the key again, unit by unit.
    spans = units(text, cfg.max_unit_chars)
    key, key_unit = unit_keys(text, spans, converter)
    hashes = ngram_hashes(key, cfg.ngram)
    positions, items = index.lookup(hashes)
    keep = np.isin(items, found)
    positions, items = positions[keep], items[keep]
    key_len = np.bincount(key_unit, minlength=len(spans))
    starts = np.concatenate(([0], np.cumsum(key_len)))
    blank = np.array([not text[s:e].strip() for s, e, _ in spans], dtype=bool)  # not "“！": no key, not blank
    tail = ~blank & (key_len == 0) & (np.array([e - s for s, e, _ in spans]) <= 3)
    claims = []  # (first unit, last unit, hits, item)
    for item in found.tolist():
        for a, b, h in item_stretches(item, positions, items, key_unit, key_len, len(spans), cfg,
                                      int(index.item_ngrams[item])):
            a, b = _with_edges(a, b, index.item_head[item], index.item_tail[item], key, starts, key_len)
            a, b = _with_margins(a, b, key_len, blank, tail, cfg)
            claims.append((a, b, h, item))
    removals = _merge(claims, spans, blank)
    kept, pos = [], 0
    for r in removals:
        kept.append(text[pos:r.start])
        pos = r.stop
    kept.append(text[pos:])
    return Decontaminated("".join(kept), tuple(removals), tuple(found.tolist()))


def _merge(claims, spans, blank) -> list[Removal]:
    """Overlapping or adjacent unit ranges of all items merged into removals, each attributed to the item with
    the most hits in it (ties: the smallest ordinal)."""
    out: list[Removal] = []
    group: list = []
    for claim in sorted(claims) + [None]:
        if group and (claim is None or claim[0] > max(c[1] for c in group) + 1):
            a, b = min(c[0] for c in group), max(c[1] for c in group)
            best = min(group, key=lambda c: (-c[2], c[3]))
            start = spans[a][0]
            if b == len(spans) - 1:  # the text's end: take the line breaks before the stretch instead
                while a > 0 and blank[a - 1]:
                    a -= 1
                start = spans[a - 1][1] if a > 0 else 0
            out.append(Removal(start, spans[b][2], best[3], int(best[2]), len({c[3] for c in group})))
            group = []
        if claim is not None:
            group.append(claim)
    return out
