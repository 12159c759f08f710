"""Cut a text longer than a document may be into parts: at chapter headings, else paragraph or sentence ends.

Pure and linear in the text's length; ingest uses it for a ``.txt`` over ``ingest.max_document_chars``.
"""

from __future__ import annotations

import bisect

from transforms.cleaning.chars import SENTENCE_END
from transforms.cleaning.headings import MAX_HEADING_CHARS, is_chapter_heading


def _heading_starts(text: str) -> list[int]:
    """Offsets of the lines of `text` that are chapter headings, in order."""
    starts, pos = [], 0
    for line in text.split("\n"):
        if len(line) <= 2 * MAX_HEADING_CHARS and is_chapter_heading(line):
            starts.append(pos)
        pos += len(line) + 1
    return starts


_SENTENCE_ENDS = SENTENCE_END


def split_points(text: str, max_chars: int) -> list[tuple[int, int, str]]:
    """(start, end, cut) of consecutive parts of `text`, each at most `max_chars` long, covering it all.

    A part ends before the last chapter heading that leaves it at least a quarter full ("heading"),
    else after the last line break ("paragraph"), else after the last sentence end ("sentence"),
    else at `max_chars` ("hard"). Linear in len(text); one part when the text fits.
    """
    if len(text) <= max_chars:
        return [(0, len(text), "whole")]
    heads = _heading_starts(text)
    parts, start = [], 0
    while len(text) - start > max_chars:
        low, high = start + max(1, max_chars // 4), start + max_chars
        i = bisect.bisect_right(heads, high) - 1
        if i >= 0 and heads[i] > low:
            cut, how = heads[i], "heading"
        else:
            cut, how = text.rfind("\n", low, high) + 1, "paragraph"
            if cut <= low:
                cut, how = max(text.rfind(ch, low, high) for ch in _SENTENCE_ENDS) + 1, "sentence"
            if cut <= low:
                cut, how = high, "hard"
        parts.append((start, cut, how))
        start = cut
    parts.append((start, len(text), "end"))
    return parts
