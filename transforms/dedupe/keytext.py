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

import regex

from schemas.hashing import stable_hex
from transforms.cleaning.chars import han_count, normalize_line

__all__ = ["make_converter", "nfkc", "exact_text", "exact_hash", "key_text", "han_count"]

#: Anything that is not a letter or a digit (Han characters are letters, category Lo).
_NON_KEY = regex.compile(r"[^\p{L}\p{N}]+")


def make_converter():
    """A fresh OpenCC traditional -> simplified converter (``t2s``)."""
    import opencc

    return opencc.OpenCC("t2s")


def nfkc(text: str) -> str:
    """`text` in Unicode NFKC (returned unchanged, without a copy, when it already is)."""
    if unicodedata.is_normalized("NFKC", text):
        return text
    return unicodedata.normalize("NFKC", text)


def exact_text(text: str) -> str:
    """The text exact duplicates are compared on: NFKC; each line trimmed with inner whitespace runs
    collapsed to one space; blank lines dropped; lines joined with "\\n"."""
    lines = (normalize_line(line) for line in nfkc(text).split("\n"))
    return "\n".join(line for line in lines if line)


def exact_hash(text: str) -> str:
    """128-bit hex stable hash of :func:`exact_text`. Equal hashes = exact duplicates."""
    return stable_hex(exact_text(text), bits=128)


def key_text(text: str, converter) -> str:
    """The near-duplicate key text: NFKC, simplified (OpenCC `converter`), lower case, then letters,
    digits and Han characters only. `converter` is what :func:`make_converter` returns."""
    simplified = converter.convert(nfkc(text))
    return _NON_KEY.sub("", simplified.lower())
