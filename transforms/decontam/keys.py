"""Key characters and their n-gram hashes: the text decontamination compares, and where it came from.

The key text is dedupe's (:func:`transforms.dedupe.keytext.key_text`: NFKC, OpenCC t2s, lower case,
letters/digits/Han only), so ASCII vs full-width punctuation, hard wraps, spacing and traditional vs
simplified script never hide an overlap. For a document the key characters also carry the *unit*
(a sentence, or a line without sentence ends) they came from, so a match maps back to whole units of
the original text. N-grams are hashed to 64 bits (a collision in a few million n-grams has odds
~1e-7). The OpenCC converter is built by the caller once (a DoFn's setup).
"""

from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

from transforms.cleaning.chars import code_point_table, code_points
from transforms.dedupe.keytext import KEY_CHARS, key_text, nfkc

_MUL1 = np.uint64(0x9E3779B97F4A7C15)
_MUL2 = np.uint64(0x100000001B3)
_SHIFT = np.uint64(29)
#: Sentence ends (with the closing quotes after them) after which a line is cut into units; an ASCII full
#: stop only after a non-ASCII character (not in 3.5 or a URL).
_SENTENCE_END = re.compile(r"(?:[。！？!?…；;]+|(?<=[^\x00-\x7f])\.+)[”’」』）)\"']*")


def ngram_hashes(key: np.ndarray, n: int) -> np.ndarray:
    """uint64 hash of every n-gram of the code points `key` (position order); empty when len(key) < n."""
    m = key.size - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    cps = key.astype(np.uint64)
    h = cps[:m] * _MUL1
    for k in range(1, n):
        h ^= cps[k:k + m]
        h *= _MUL2
    h ^= h >> _SHIFT
    return h


class ItemKey(NamedTuple):
    """What the index keeps of an evaluation item: its sorted distinct n-gram hashes, its key characters
    (segments of at least n only), and the first and last `edge` key characters (to finish a match whose
    first or last short line lost its n-grams to an edit)."""

    hashes: np.ndarray
    chars: int
    head: str
    tail: str


def item_key(parts, converter, n: int, edge: int) -> ItemKey:
    """The :class:`ItemKey` of an item's segments; no n-gram spans two segments, and segments shorter than n
    (outline phrases, titles) add nothing."""
    keys = [key_text(part, converter) for part in parts]
    keys = [k for k in keys if len(k) >= n]
    if not keys:
        return ItemKey(np.empty(0, dtype=np.uint64), 0, "", "")
    hashes = np.unique(np.concatenate([ngram_hashes(code_points(k), n) for k in keys]))
    return ItemKey(hashes, sum(map(len, keys)), keys[0][:edge], keys[-1][-edge:])


def text_key(text: str, converter) -> np.ndarray:
    """The code points of ``key_text(text, converter)``, without building the key string."""
    cps = code_points(converter.convert(nfkc(text)).lower())
    return cps[code_point_table(KEY_CHARS)[cps]]


def units(text: str, max_unit_chars: int) -> list[tuple[int, int, int]]:
    """(start, end, stop) of the units of `text`, in order, covering it: every line cut after its sentence ends
    (a piece longer than `max_unit_chars`, text without punctuation, is cut every `max_unit_chars`; an empty
    line is a unit). text[start:end] is the unit; text[start:stop] is what removing it removes: the line break
    too when the unit ends its line."""
    out: list[tuple[int, int, int]] = []
    pos = 0
    for line in text.split("\n"):
        end = pos + len(line)
        stop = min(end + 1, len(text))
        cuts = [m.end() for m in _SENTENCE_END.finditer(line)]
        bounds = [0]
        for c in cuts + [len(line)]:
            while c - bounds[-1] > max_unit_chars:
                bounds.append(bounds[-1] + max_unit_chars)
            if c > bounds[-1]:
                bounds.append(c)
        if len(bounds) == 1:
            bounds.append(0)  # an empty line
        for x, y in zip(bounds, bounds[1:]):
            out.append((pos + x, pos + y, pos + y if y < len(line) else stop))
        pos = end + 1
    return out


def unit_keys(text: str, spans: list[tuple[int, int, int]], converter) -> tuple[np.ndarray, np.ndarray]:
    """(key code points, unit index of each) for `text` cut into `spans` (from :func:`units`).

    One OpenCC pass over the whole text with a line break between units (the key never keeps line
    breaks); should the converted text not keep one line per unit, each unit is converted on its own."""
    joined = "\n".join(text[s:e] for s, e, _ in spans)
    converted = converter.convert(nfkc(joined)).lower()
    cps = code_points(converted)
    breaks = cps == 10
    if int(np.count_nonzero(breaks)) != len(spans) - 1:
        keys = [code_points(key_text(text[s:e], converter)) for s, e, _ in spans]
        unit = np.repeat(np.arange(len(spans), dtype=np.int64), [k.size for k in keys])
        return (np.concatenate(keys) if keys else np.empty(0, np.uint32)), unit
    unit = np.cumsum(breaks, dtype=np.int64)
    keep = code_point_table(KEY_CHARS)[cps]
    return cps[keep], unit[keep]
