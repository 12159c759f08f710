"""Word boundaries near span edges (jieba, dictionary only), and snapping span edges to them.

A full jieba pass is slow (bench/README.md); masking needs boundaries only at span edges. This
module gets *exactly* the boundaries a full ``jieba.Tokenizer.cut(text, HMM=False)`` would give, but
only around the positions asked for:

1. jieba cuts each maximal run of its "Han" class ([\\u4E00-\\u9FD5a-zA-Z0-9+#&._%-]) on its own and
   makes every other character a word, so a position next to a non-Han character is a boundary.
2. Within a run, jieba (HMM off) picks the best path through the DAG of dictionary words. A position
   that no dictionary word of length >= 2 crosses lies on every path, so it is a boundary, and the best
   path splits there into independent halves. Checking "crossed" costs one set lookup when the two
   characters around the position are no adjacent pair of any dictionary word (most positions), else
   a few dict lookups (the jieba dictionary holds every word's prefixes).
3. Otherwise jieba cuts only the stretch between the nearest uncrossed positions on either side, which
   gives the same words there as cutting the whole run.

HMM is off (dictionary words only): with HMM on, jieba regroups runs of single characters with a
Viterbi tagger, which would make step 2 inexact. Positions strictly inside a run of ASCII letters or
digits are never boundaries (jieba glues single alnum characters together).
"""

from __future__ import annotations

import bisect
import re
from typing import Callable

from transforms.examples.masking import Span

#: A maximal run of jieba's default "Han" block characters (jieba.re_han_default without the group).
_HAN_RUN = re.compile("[\u4E00-\u9FD5a-zA-Z0-9+#&\\._%\\-]+")


def is_han(ch: str) -> bool:
    """True for the characters of jieba's default "Han" block class ``[\\u4E00-\\u9FD5a-zA-Z0-9+#&._%-]``."""
    return "\u4e00" <= ch <= "\u9fd5" or ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9") or ch in "+#&._%-"


def _is_alnum(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ("0" <= ch <= "9")


class JiebaIndex:
    """An initialized ``jieba.Tokenizer`` plus what WordBoundaries reads from it (built once per worker)."""

    def __init__(self, jieba_tokenizer=None):
        if jieba_tokenizer is None:
            import jieba

            jieba.setLogLevel(60)  # jieba logs its dictionary loading at INFO/DEBUG
            # A private tokenizer, not jieba.dt: nothing else can add words to its dictionary.
            jieba_tokenizer = jieba.Tokenizer()
        jieba_tokenizer.check_initialized()
        self.tokenizer = jieba_tokenizer
        self.freq = jieba_tokenizer.FREQ  # every word and every prefix of a word (prefixes with count 0)
        self.max_word = max(len(w) for w in self.freq)
        # Every two adjacent characters of a dictionary word: a word that crosses q holds text[q-1:q+1],
        # so a pair not in here answers "not crossed" with one lookup.
        # (Pairs that are themselves dictionary keys reuse the key's string: ~18 MB instead of ~31.)
        keys = {w: w for w in self.freq if len(w) == 2}
        self.pairs = frozenset(
            keys.get(w[i:i + 2], w[i:i + 2]) for w, count in self.freq.items() if count for i in range(len(w) - 1)
        )


class WordBoundaries:
    """Answers "is char offset p a word boundary of jieba(text, HMM=False)?" looking only near p.

    Results are memoized per instance (one instance per text). `jieba_chars` counts the characters
    handed to jieba, for the benchmark.
    """

    def __init__(self, index: JiebaIndex, text: str):
        self._tk = index.tokenizer
        self._freq = index.freq
        self._max_word = index.max_word
        self._pairs = index.pairs
        self.text = text
        self._known: dict[int, bool] = {}
        self._starts: list[int] | None = None
        self._ends: list[int] = []
        self.jieba_chars = 0

    def is_boundary(self, p: int) -> bool:
        """True when a full jieba pass (HMM off) over the text would put a word boundary at char offset p."""
        text = self.text
        if p <= 0 or p >= len(text):
            return True
        known = self._known.get(p)
        if known is not None:
            return known
        run = self._run(p)
        if run is None:  # text[p-1] or text[p] is outside jieba's Han class
            return True
        if _is_alnum(text[p - 1]) and _is_alnum(text[p]):
            return False
        start, end = run
        if not self._crossed(p, start, end):
            self._known[p] = True
            return True
        lo = p - 1
        while lo > start and self._crossed(lo, start, end):
            lo -= 1
        hi = p + 1
        while hi < end and self._crossed(hi, start, end):
            hi += 1
        self._cut(lo, hi)
        return self._known[p]

    def _run(self, p: int) -> tuple[int, int] | None:
        """The maximal Han-class run holding both text[p-1] and text[p], or None."""
        if self._starts is None:
            self._starts = []
            for m in _HAN_RUN.finditer(self.text):
                self._starts.append(m.start())
                self._ends.append(m.end())
        i = bisect.bisect_right(self._starts, p - 1) - 1
        if i < 0 or self._ends[i] <= p:
            return None
        return self._starts[i], self._ends[i]

    def _crossed(self, q: int, start: int, end: int) -> bool:
        """Does a dictionary word inside text[start:end] start before q and end after q?"""
        text, freq = self.text, self._freq
        if text[q - 1:q + 1] not in self._pairs:
            return False
        for k in range(q - 1, max(start, q - self._max_word + 1) - 1, -1):
            if text[k:q] not in freq:
                continue
            j = q + 1
            while j <= end:
                frag = text[k:j]
                if frag not in freq:
                    break
                if freq[frag]:
                    return True
                j += 1
        return False

    def _cut(self, lo: int, hi: int) -> None:
        """jieba-cut text[lo:hi] (lo, hi uncrossed) and record which offsets inside are boundaries."""
        text = self.text
        self.jieba_chars += hi - lo
        for q in range(lo + 1, hi):
            self._known[q] = False
        pos = lo
        for word in self._tk.cut(text[lo:hi], HMM=False):
            pos += len(word)
            if pos < hi and not (_is_alnum(text[pos - 1]) and _is_alnum(text[pos])):
                self._known[pos] = True


def full_pass_boundaries(jieba_tokenizer, text: str) -> set[int]:
    """Reference: every word boundary of a full ``cut(text, HMM=False)`` (0 and len(text) included),
    minus offsets strictly inside runs of ASCII letters/digits — what WordBoundaries answers."""
    out = {0, len(text)}
    pos = 0
    for word in jieba_tokenizer.cut(text, HMM=False):
        pos += len(word)
        if pos < len(text) and not (_is_alnum(text[pos - 1]) and _is_alnum(text[pos])):
            out.add(pos)
    return out


def bracket(t: int, is_edge: Callable[[int], bool], n: int) -> tuple[int, int]:
    """(a, b): the nearest allowed boundaries at or before and at or after t (0 and n always qualify)."""
    if t <= 0:
        return 0, 0
    if t >= n:
        return n, n
    if is_edge(t):
        return t, t
    a = t - 1
    while a > 0 and not is_edge(a):
        a -= 1
    b = t + 1
    while b < n and not is_edge(b):
        b += 1
    return a, b


def _round(t: int, a: int, b: int, u: float) -> int:
    """a or b, b with probability (t - a) / (b - a) for a uniform u: the expected result is t."""
    if a == b:
        return a
    return a if u < (b - t) / (b - a) else b


def snap_spans(spans: list[Span], is_edge: Callable[[int], bool], n: int, rng) -> list[Span]:
    """Spans with both edges moved to allowed token boundaries by unbiased randomized rounding.

    An edge between allowed boundaries a < t < b goes to b with probability (t - a) / (b - a), else to
    a, so a snapped span keeps its length in expectation and the realized mask ratio stays on target.
    Both edges of a span use the same uniform draw, so a span inside one word becomes either that
    whole word or nothing. Empty spans are dropped, spans that overlap or touch are merged; if none is
    left, the first span is widened to the allowed boundaries around it.
    """
    out: list[Span] = []
    draws = rng.random(len(spans))
    for (s, e), u in zip(spans, draws.tolist()):
        s2 = _round(s, *bracket(s, is_edge, n), u)
        e2 = _round(e, *bracket(e, is_edge, n), u)
        if e2 <= s2:
            continue
        if out and s2 <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], e2))
        else:
            out.append((s2, e2))
    if not out and spans:
        s, e = spans[0]
        s2, e2 = bracket(s, is_edge, n)[0], bracket(e, is_edge, n)[1]
        if e2 <= s2:
            e2 = bracket(min(e2 + 1, n), is_edge, n)[1]
        if e2 <= s2:
            s2 = bracket(max(s2 - 1, 0), is_edge, n)[0]
        out.append((s2, e2))
    return out
