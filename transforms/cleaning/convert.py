"""Traditional -> simplified Chinese with OpenCC (`t2s`), and the measure used to drop traditional text.

OpenCC converts by phrase, so 乾坤 stays 乾坤 while 乾燥 becomes 干燥; it never changes the length
of the text in practice, which lets hits be counted position by position.
"""

from __future__ import annotations

import numpy as np
import opencc

Result = tuple[str, int]


def _codepoints(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def changed_chars(before: str, after: str) -> int:
    """Characters that differ between two texts (position by position; plus the length difference)."""
    if before == after:
        return 0
    a, b = _codepoints(before), _codepoints(after)
    n = min(len(a), len(b))
    return int(np.count_nonzero(a[:n] != b[:n])) + abs(len(a) - len(b))


class Simplifier:
    """An OpenCC t2s converter. Build one per worker (it loads dictionaries), e.g. in DoFn.setup."""

    def __init__(self) -> None:
        self._cc = opencc.OpenCC("t2s")

    def convert(self, text: str) -> Result:
        """Traditional characters -> simplified. Hits: characters changed."""
        out = self._cc.convert(text)
        return out, changed_chars(text, out)

    def detect(self, text: str) -> Result:
        """Leave `text` unchanged; hits = characters t2s *would* change (for traditional='drop')."""
        return text, changed_chars(text, self._cc.convert(text))
