"""Byte -> text decoding for raw novels: BOM sniffing, UTF-8, UTF-16, GB18030 and Big5 detection.

Chinese novel dumps come in whatever encoding the uploading site used. We decide per file:

1. A BOM wins (UTF-8, UTF-16 LE/BE).
2. NUL bytes: UTF-16 without BOM shows NULs in every other byte; other NUL-heavy input is binary.
3. Strict UTF-8 (the common case, and the fast path).
4. Otherwise every candidate (UTF-8, GB18030, Big5) is decoded with replacement and scored by how
   much of the result is plausible text: common Han characters (GB2312 level 1 and Big5 level 1,
   derived from the codecs themselves, so no word list ships with the code), ASCII and CJK
   punctuation. A Big5 file decoded as GB18030 turns into kana, symbols and private-use glyphs, and
   the other way round into rare characters and replacement marks, so the right codec scores highest.

Text with more than `max_replacement_ratio` U+FFFD after decoding is rejected as undecodable.
Line endings are normalized to LF.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from transforms.charsets import COMMON_HAN


class DecodeError(ValueError):
    """The bytes are not text we accept. `reason` is a reject code, `detail` says why in words."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str


# Plausible text: the common Han characters of both scripts, ASCII and CJK punctuation.
_PLAUSIBLE = frozenset(
    COMMON_HAN
    | set(chr(c) for c in range(0x20, 0x7F))
    | set("\r\n\t，。！？；：、“”‘’（）《》〈〉「」『』【】…—·～　")
)

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_SNIFF_BYTES = 1 << 16  # scoring a 64 KiB prefix is as good as scoring the whole file


def normalize_newlines(text: str) -> str:
    """CRLF and lone CR become LF."""
    if "\r" not in text:
        return text
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _check_text(text: str, encoding: str, max_replacement_ratio: float, preexisting: int = 0) -> Decoded:
    if not text.strip():
        raise DecodeError("empty", "no text after decoding (empty or whitespace only)")
    bad = text.count("\ufffd") - preexisting
    if bad > max(0, max_replacement_ratio * len(text)):
        raise DecodeError(
            "undecodable",
            f"{bad} of {len(text)} characters ({bad / len(text):.2%}) could not be decoded as {encoding}"
            f" (limit {max_replacement_ratio:.2%})",
        )
    controls = sum(1 for ch in text[:_SNIFF_BYTES] if ord(ch) < 32 and ch not in "\n\t\r\f\x1a")
    if controls > 0.01 * min(len(text), _SNIFF_BYTES):
        raise DecodeError("binary", f"{controls} control characters in the first {_SNIFF_BYTES} characters")
    return Decoded(normalize_newlines(text), encoding)


def _score(sample: bytes, codec: str) -> float:
    text = sample.decode(codec, errors="replace")
    if not text:
        return 0.0
    plausible = sum(1 for ch in text if ch in _PLAUSIBLE)
    return (plausible - 4 * text.count("\ufffd")) / len(text)


def decode_bytes(data: bytes, max_replacement_ratio: float = 0.001, max_nul_ratio: float = 0.001) -> Decoded:
    """Decode one document's bytes. Returns Decoded(text with LF line ends, encoding) or raises DecodeError.

    Reasons: "empty", "binary" (NUL or control bytes), "undecodable" (too many replacement chars).
    Already-present U+FFFD characters in valid UTF-8 are not held against the file (the cleaner
    removes them); only bytes that fail to decode count toward `max_replacement_ratio`.
    """
    if not data.strip():
        raise DecodeError("empty", "file is empty" if not data else "file holds only whitespace")
    for bom, codec in _BOMS:
        if data.startswith(bom):
            name = "utf-8-sig" if codec == "utf-8-sig" else codec
            text = data[len(bom):].decode(codec.replace("-sig", ""), errors="replace")
            return _check_text(text, name, max_replacement_ratio)
    head = data[:_SNIFF_BYTES]
    nuls = head.count(0)
    if nuls:
        # BOM-less UTF-16: NULs are the high byte of ASCII (and of U+4E00-style code points).
        even_head = head[: len(head) // 2 * 2]
        codec = max(("utf-16-le", "utf-16-be"), key=lambda c: _score(even_head, c))
        if _score(even_head, codec) > 0.7:
            return _check_text(data.decode(codec, errors="replace"), codec, max_replacement_ratio)
        if nuls > max_nul_ratio * len(head):
            raise DecodeError("binary", f"{nuls} NUL bytes in the first {len(head)} bytes")
    try:
        text = data.decode("utf-8")
        return _check_text(text, "utf-8", max_replacement_ratio, preexisting=text.count("\ufffd"))
    except UnicodeDecodeError:
        pass
    best = max(("gb18030", "big5", "utf-8"), key=lambda c: _score(head, c))
    return _check_text(data.decode(best, errors="replace"), best, max_replacement_ratio)
