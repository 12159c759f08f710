"""The texts a document is compared by: the exact-duplicate hash and the near-duplicate key text.

* :func:`exact_hash` — 128-bit stable hash of the text after NFKC, per-line whitespace trimming/collapsing and
  dropping blank lines. Two documents with equal hashes are exact duplicates.
* :func:`key_text` — what MinHash shingles: NFKC, traditional -> simplified Chinese (OpenCC ``t2s``),
  lower case, then only letters, digits and Han characters (no punctuation, no whitespace), so that
  re-punctuation, re-wrapping and traditional/simplified editions of a novel still look alike.
* :func:`han_count` — Han characters of a text (``transforms.cleaning.chars.han_count``, re-exported).

The OpenCC converter is a heavy object: build it with :func:`make_converter` once (a DoFn's
``setup``) and pass it in; nothing here builds one at import time.
"""

from __future__ import annotations

import unicodedata

import numpy as np

from schemas.hashing import stable_hex
from transforms.cleaning.chars import code_points, han_count, keep_chars, normalized_lines

__all__ = ["make_converter", "nfkc", "exact_text", "exact_hash", "key_text", "han_count"]

#: What key texts keep: letters and digits (Han characters are letters, category Lo).
KEY_CHARS = r"[\p{L}\p{N}]"


def make_converter():
    """A fresh OpenCC traditional -> simplified converter (``t2s``)."""
    import opencc

    return opencc.OpenCC("t2s")


def _wide_forms() -> tuple[tuple[str, str], ...]:
    """(character, its NFKD) for the compatibility characters Chinese text is full of: the ideographic
    space, the ellipsis and the Halfwidth and Fullwidth Forms block (，！？：；（） and the rest)."""
    chars = [chr(0x3000), chr(0x2026)] + [chr(c) for c in range(0xFF00, 0xFFF0)]
    pairs = ((c, unicodedata.normalize("NFKD", c)) for c in chars)
    return tuple((c, d) for c, d in pairs if d != c)


_WIDE_FORMS = _wide_forms()
_WIDE = dict(_WIDE_FORMS)


def _wide_forms_in(text: str) -> list[str]:
    """The characters of _WIDE_FORMS that occur in `text`: one vectorized pass over its code points,
    not one str scan per form."""
    units = code_points(text)
    wide = units[((units >= 0xFF00) & (units <= 0xFFEF)) | (units == 0x3000) | (units == 0x2026)]
    return [c for c in map(chr, np.unique(wide).tolist()) if c in _WIDE]


def nfkc(text: str) -> str:
    """`text` in Unicode NFKC (returned unchanged, without a copy, when it already is).

    Equal to ``unicodedata.normalize("NFKC", text)``, several times faster on Chinese text: the common
    wide forms are first replaced by their NFKD with str.replace (replacing a character by its NFKD
    never changes a string's NFKC), then only the lines still not in NFKC are normalized ("\n" never
    combines or reorders with a neighbour, so NFKC works line by line).
    """
    if unicodedata.is_normalized("NFKC", text):
        return text
    for char in _wide_forms_in(text):
        text = text.replace(char, _WIDE[char])
    if unicodedata.is_normalized("NFKC", text):
        return text
    return "\n".join(
        line if unicodedata.is_normalized("NFKC", line) else unicodedata.normalize("NFKC", line)
        for line in text.split("\n")
    )


def exact_text(text: str) -> str:
    """The text exact duplicates are compared on: NFKC; each line trimmed with inner whitespace runs
    collapsed to one space; blank lines dropped; lines joined with "\\n"."""
    return "\n".join(line for line in normalized_lines(nfkc(text)) if line)


def exact_hash(text: str) -> str:
    """128-bit hex stable hash of :func:`exact_text`. Equal hashes = exact duplicates."""
    return stable_hex(exact_text(text), bits=128)


def key_text(text: str, converter) -> str:
    """The near-duplicate key text: NFKC, simplified (OpenCC `converter`), lower case, then letters,
    digits and Han characters only. `converter` is what :func:`make_converter` returns."""
    simplified = converter.convert(nfkc(text))
    return keep_chars(simplified.lower(), KEY_CHARS)
