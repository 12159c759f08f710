"""Character classes shared by the stages, as regex fragments (for the `regex` module), and the text
measures built on them: :func:`han_count` and :func:`normalize_line` (the only definitions of both).

Only constants and pure functions live here: immutable strings, compiled patterns that hold no state, and
read-only code point tables built once per process from those patterns (:func:`code_point_table`).
"""

from __future__ import annotations

import functools
import re

import numpy as np
import regex

from transforms import charsets

#: Horizontal whitespace (not newlines): ASCII space, tab, NBSP, the Unicode spaces and U+3000.
SPACE = r"[ \t\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]"
#: Chinese punctuation that closes a clause or a quotation.
CJK_CLOSE = "」』”’）》〉】〕…—"
#: Chinese punctuation that opens a quotation or a bracket.
CJK_OPEN = "「『“‘（《〈【〔"
#: A character that makes its neighbourhood "Chinese": Han, CJK symbols and punctuation block,
#: full-width punctuation, curly quotes, ellipsis and dash.
CJK = (
    r"[\p{Han}\u3000-\u303f\uff01-\uff0f\uff1a-\uff20\uff3b-\uff40\uff5b-\uff65"
    r"\u2018\u2019\u201c\u201d\u2026\u2014\u00b7]"
)
#: Characters after which a line is unfinished (a hard wrap, not a paragraph end): Han, comma,
#: enumeration comma and any opening bracket or quote.
CONTINUATION = regex.compile(r"[\p{Han}，、" + CJK_OPEN + r"]")
#: Sentence-final punctuation (full-width and ASCII stops, ellipsis); stages add closing quotes or ；.
SENTENCE_END = "。！？!?…"

#: The common Han characters of both scripts (GB2312 level 1 + Big5 level 1); see transforms.charsets.
COMMON_HAN: frozenset[str] = charsets.COMMON_HAN

_WHITESPACE = regex.compile(r"\s+")
#: A run of Unicode White_Space (what `regex`'s \s matches) for the faster `re` engine, whose \s also
#: matches U+001C..U+001F (str.isspace), which are not White_Space (tests/test_house.py checks every code point).
_WHITE_SPACE_RUN = re.compile(r"[^\S\x1c-\x1f]+")


@functools.lru_cache(maxsize=4)
def code_point_table(char_class: str) -> np.ndarray:
    """One bool per code point 0..0x10FFFF: does the `regex` character class `char_class` match it?

    Built once per process (~0.2 s) by running the class over every code point, so a lookup in it
    means exactly what the `regex` pattern means (same Unicode version)."""
    table = np.zeros(0x110000, dtype=bool)
    for m in regex.finditer(char_class + "+", "".join(map(chr, range(0x110000)))):
        table[m.start():m.end()] = True
    table.flags.writeable = False
    return table


def code_points(text: str) -> np.ndarray:
    """The code points of `text` as a uint32 array (lone surrogates included)."""
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


def keep_chars(text: str, char_class: str) -> str:
    """`text` with only the characters `char_class` matches (``regex.sub(f"[^...]+", "", text)``), vectorized."""
    units = code_points(text)
    return units[code_point_table(char_class)[units]].tobytes().decode("utf-32-le")


def han_count(text: str) -> int:
    """Number of Han (Chinese) characters in `text` (Unicode script Han, all planes)."""
    return int(np.count_nonzero(code_point_table(r"\p{Han}")[code_points(text)]))


def normalize_line(line: str) -> str:
    """`line` stripped, with every whitespace run (spaces, tabs, U+3000, ...) replaced by one ASCII space.

    The one line normalization of segmentation, exact-duplicate hashing and boilerplate line keys."""
    return _WHITE_SPACE_RUN.sub(" ", line).strip()


_WHITE_SPACE_RUN_IN_LINE = re.compile(r"[^\S\n\x1c-\x1f]+")


def normalized_lines(text: str) -> list[str]:
    """``[normalize_line(line) for line in text.split("\n")]``, in one regex pass over the whole text.

    Equal because no whitespace run the line-wise pass replaces holds a newline (tests compare both)."""
    return [line.strip() for line in _WHITE_SPACE_RUN_IN_LINE.sub(" ", text).split("\n")]


def nonspace_count(text: str) -> int:
    """Number of characters of `text` that are not whitespace."""
    return len(text) - sum(len(m) for m in _WHITESPACE.findall(text))
