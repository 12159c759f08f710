"""Markers and separators of evaluation files, stripped before matching.

LOT and STORAL ship examples with T5 sentinels (``<extra_id_3>``), ``<sep>``, ``[MASK]`` and
``#``-separated outlines. Each marker is a *boundary*: the text on either side becomes a separate
segment, so no n-gram spans a masked-out sentence or joins two outline phrases into text that never
occurs in a story. Pure functions only.
"""

from __future__ import annotations

import re

#: Every marker that splits an item into segments (case-insensitive). `#` separates outline phrases;
#: the others are the sentinels, separators and mask tokens of T5/BERT-style releases.
MARKERS = re.compile(
    r"<extra_id_\d+>|<\s*/?\s*(?:sep|s|mask|pad|unk|cls|eos|bos)\s*>|\[(?:mask|sep|cls|pad|unk|blank)\]|#",
    re.IGNORECASE,
)


def segments(text: str) -> list[str]:
    """`text` split at every marker; segments that are empty or only whitespace are dropped."""
    return [part for part in MARKERS.split(text) if part.strip()]


def strip_markers(text: str) -> str:
    """`text` with every marker replaced by a line break (what a reader of the item sees)."""
    return "\n".join(segments(text))
