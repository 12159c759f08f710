"""Character sets derived from the national encoding standards' codecs (no word list ships).

GB2312 level 1 holds the 3755 most common simplified characters and Big5 level 1 the 5401 most
common traditional ones, each ranked by its standard. Real Chinese prose draws ~95% of its Han
characters from their union; random CJK text ~35%. Immutable constants built once at import.
"""

from __future__ import annotations


def codec_chars(codec: str, leads, trails) -> str:
    """Every character a two-byte `codec` maps (lead, trail) pairs to, in byte order."""
    chars = []
    for lead in leads:
        for trail in trails:
            try:
                chars.append(bytes((lead, trail)).decode(codec))
            except UnicodeDecodeError:
                pass
    return "".join(chars)


#: GB2312 level 1 (rows 16-55), in the standard's order.
GB2312_LEVEL1: str = codec_chars("gb2312", range(0xB0, 0xD8), range(0xA1, 0xFF))
#: Big5 level 1 (0xA440-0xC67E), in the standard's order.
BIG5_LEVEL1: str = codec_chars("big5", range(0xA4, 0xC7), list(range(0x40, 0x7F)) + list(range(0xA1, 0xFF)))
#: The common Han characters of both scripts.
COMMON_HAN: frozenset[str] = frozenset(GB2312_LEVEL1) | frozenset(BIG5_LEVEL1)
