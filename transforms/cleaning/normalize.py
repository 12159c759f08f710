"""Normalization rules: Unicode form, invisible characters, width, punctuation, whitespace.

Every rule is a pure function `text -> (text, hits)` where hits counts the places it changed. The
guiding constraint is that Chinese punctuation stays (or becomes) full-width: only letters, digits
and the ideographic space are narrowed, and ASCII punctuation is widened only between Chinese
characters. (datatrove turns ftfy's width fixing off for the same reason: it would fold ，into ,.)
"""

from __future__ import annotations

import bisect
import re
import unicodedata

import regex

from transforms.cleaning.chars import CJK, CJK_CLOSE, CJK_OPEN, SPACE
from transforms.cleaning.headings import heading_spans

Result = tuple[str, int]


def nfc(text: str) -> Result:
    """Unicode NFC. Hits: characters that changed (or the length difference, when composition shrinks)."""
    if unicodedata.is_normalized("NFC", text):
        return text, 0
    out = unicodedata.normalize("NFC", text)
    if len(out) != len(text):
        return out, len(text) - len(out)
    return out, sum(a != b for a, b in zip(text, out))


_LINE_BREAKS = re.compile(r"\r\n?|[\u2028\u2029\x85]")
# Control (Cc) characters except tab and newline, every format (Cf) character of Unicode 15, and
# variation selectors, spelled out: the stdlib `re` scans a plain BMP class faster than `regex`
# scans [\p{Cc}\p{Cf}] (bench/README.md). Astral ones are a second class, scanned only when the text has astral
# characters at all (tests check both classes against unicodedata).
_INVISIBLE_BMP = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x84\x86-\x9f\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2"
    "\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ufe00-\ufe0f]+"
)
_INVISIBLE_ASTRAL = re.compile(
    "[\U000110bd\U000110cd\U00013430-\U0001343f\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000e0100-\U000e01ef]+"
)
_ASTRAL = regex.compile("[\U00010000-\U0010ffff]")


def strip_invisible(text: str) -> Result:
    """CR/CRLF/U+2028/U+2029 -> LF; remove BOM, zero-width, bidi, soft hyphen, control and variation selectors."""
    text, hits = _LINE_BREAKS.subn("\n", text)
    text, n = _INVISIBLE_BMP.subn("", text)
    hits += n
    if _ASTRAL.search(text):
        text, n = _INVISIBLE_ASTRAL.subn("", text)
        hits += n
    return text, hits


_FW_ALNUM = regex.compile(r"[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u3000]+")
_FW_TABLE = {c: c - 0xFEE0 for lo, hi in ((0xFF10, 0xFF1A), (0xFF21, 0xFF3B), (0xFF41, 0xFF5B)) for c in range(lo, hi)}
_FW_TABLE[0x3000] = 0x20
# Full-width punctuation inside ASCII words and numbers (ｗｗｗ．ｘ．ｃｏｍ, １：２, ａ＠ｂ) -> ASCII.
_FW_PUNCT_IN_ASCII = regex.compile(r"(?<=[A-Za-z0-9])[．＠／：＿－＆＝％＃＋～](?=[A-Za-z0-9])")


def fullwidth_ascii(text: str) -> Result:
    """Full-width letters, digits and U+3000 -> ASCII; full-width ．＠／： etc. between ASCII alnum -> ASCII.

    Chinese punctuation (，。！？：；（）) is left alone everywhere else.
    """
    text, n = _FW_ALNUM.subn(lambda m: m.group().translate(_FW_TABLE), text)
    if n:
        text, k = _FW_PUNCT_IN_ASCII.subn(lambda m: chr(ord(m.group()) - 0xFEE0), text)
        n += k
    return text, n


_WIDE = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；", ".": "。", "(": "（", ")": "）"}
_HAN_LEFT = rf"[\p{{Han}}{CJK_CLOSE}]"
_CJK_RIGHT = rf"(?:[\p{{Han}}{CJK_OPEN}{CJK_CLOSE}，。、；：？！]|{SPACE}*$)"
_ASCII_PUNCT = regex.compile(rf"(?<={_HAN_LEFT}{SPACE}*)[,?!:;.](?={SPACE}*{_CJK_RIGHT})", regex.MULTILINE)
_PAREN_PAIR = regex.compile(r"\(([^()\n]{1,60})\)")
_HAN = regex.compile(r"\p{Han}")
_CJK_CHAR = regex.compile(CJK)


def _widen_pair(m: regex.Match) -> str:
    inner = m.group(1)
    s = m.string
    before = s[m.start() - 1] if m.start() > 0 else "\n"
    after = s[m.end()] if m.end() < len(s) else "\n"
    near_cjk = bool(_CJK_CHAR.match(before) or _CJK_CHAR.match(after)) or before == "\n" or after == "\n"
    if _HAN.search(inner) and near_cjk:
        return f"（{inner}）"
    return m.group()


def cjk_punctuation(text: str) -> Result:
    """ASCII , ? ! : ; . between Chinese characters -> ，？！：；。; ( ) around Chinese text -> （）.

    "Between" means: a Han character or closing Chinese punctuation on the left and a Han character,
    Chinese punctuation or the end of the line on the right. Numbers (3.5, 12:30), English
    ("Hello, world") and ellipses (...) are left alone.
    """
    text, n = _ASCII_PUNCT.subn(lambda m: _WIDE[m.group()], text)
    if "(" in text:
        count = 0

        def widen(m: regex.Match) -> str:
            nonlocal count
            out = _widen_pair(m)
            count += out != m.group()
            return out

        text = _PAREN_PAIR.sub(widen, text)
        n += count
    return text, n


_FULLSTOP = regex.compile(rf"(?<={_HAN_LEFT})．(?![．.A-Za-z0-9])")


def fullstop(text: str) -> Result:
    """Full-width ． after Chinese text (not between ASCII letters/digits, not in ．．．) -> 。."""
    if "．" not in text:
        return text, 0
    return _FULLSTOP.subn("。", text)


_SPACE_RUN = regex.compile(rf"(?<={CJK}){SPACE}+(?=\S)|(?<=\S){SPACE}+(?={CJK})")


def cjk_spaces(text: str) -> Result:
    """Remove runs of spaces with a Chinese character on either side (not indentation: see strip_indentation).

    Inside a chapter heading line the run becomes one ASCII space ("第一回 宴桃园豪杰三结义"), so the
    heading stays readable and recognizable. Spaces between two non-Chinese words are kept.
    """
    spans = heading_spans(text)
    starts = [s for s, _ in spans]
    count = 0

    def repl(m: regex.Match) -> str:
        nonlocal count
        i = bisect.bisect_right(starts, m.start()) - 1
        if i >= 0 and m.start() < spans[i][1]:
            if m.group() == " ":
                return " "
            count += 1
            return " "
        count += 1
        return ""

    out = _SPACE_RUN.sub(repl, text)
    return out, count


_INDENT = regex.compile(rf"^{SPACE}+|{SPACE}+$", regex.MULTILINE)


def strip_indentation(text: str) -> Result:
    """Remove leading whitespace (paragraph indentation: spaces, U+3000, tabs) and trailing whitespace of lines."""
    return _INDENT.subn("", text)


_BLANK_RUN = regex.compile(rf"\n(?:{SPACE}*\n)+")
_BLANK_RUN_2 = regex.compile(rf"\n(?:{SPACE}*\n){{2,}}")


def blank_lines(text: str, mode: str) -> Result:
    """'collapse': runs of blank lines -> one blank line; 'remove': no blank lines; 'keep': unchanged.

    In every mode but 'keep' the text also loses leading and trailing blank lines.
    """
    if mode == "keep":
        return text, 0
    if mode == "remove":
        out, n = _BLANK_RUN.subn("\n", text)
    else:
        out, n = _BLANK_RUN_2.subn("\n\n", text)
    stripped = out.strip("\n")
    return stripped, n + (stripped != out)
