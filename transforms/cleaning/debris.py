"""OCR and glyph debris: private-use glyphs, U+FFFD, □ placeholders, footnote markers, censorship masks.

Each rule returns `(text, hits)`. None of them touches real punctuation: dialogue quotes “”,
ellipses ……, dashes ——, and numbers in prose survive every rule here.
"""

from __future__ import annotations

import regex

Result = tuple[str, int]

# Private-use code points (BMP E000-F8FF and planes 15-16): site-specific glyphs for rare
# characters (some web editions hold over a thousand); without the site's font they mean nothing.
_PRIVATE_USE = regex.compile(r"\p{Co}+")
_REPLACEMENT = regex.compile("\ufffd+")
# A missing glyph shown as □ (or 〓), with the description OCR editions add after it:
# □【左“鱼”右“便”】, 【□：左“目”右“见”；】, □（形似“册”，四十）. Ideographic description
# sequences (⿰亻尔) are the same thing in Unicode form; they are parsed (see _ids_end).
_GLYPH = regex.compile(
    r"""[□〓]【[^【】\n]{1,40}】
      | 【[□〓][：:][^【】\n]{1,40}】
      | [□〓][（(]形似[^（）()\n]{1,30}[）)]
      | [□〓]+""",
    regex.VERBOSE,
)
# An ASCII "?" inside Chinese text where a character could not be encoded (GBK dumps write "?" for
# unmappable characters: 水浒传 "推倒?翻", "单廷?"). A real question mark follows a sentence-final
# particle or question word (吗呢么吧啊呀哪谁何啥怎乎耶欤) or ends the sentence, so it is left alone.
_LOST_CHAR = regex.compile(
    r"(?<=\p{Han})(?<![吗呢么吧啊呀哪谁何啥怎乎耶欤])\?+(?=[\p{Han}，、；：？。！”’）])"
    r"|(?<=[，。、；：“‘（《])\?+(?=\p{Han})"
)
_FOOTNOTE = regex.compile(r"[①-⑳⑴-⒇]|[\[［〔【][0-9]{1,3}[\]］〕】]|[（(]注[0-9]{1,3}[）)]")
# Two or more asterisks touching Chinese text on at least one side. (Lines made only of asterisks
# are separators, handled earlier by the wrap module.)
_CENSOR = regex.compile(r"(?<=[\p{Han}，。、；：？！“”‘’])[*＊]{2,}|[*＊]{2,}(?=[\p{Han}，。、；：？！“”‘’])")


def private_use(text: str) -> Result:
    """Remove private-use characters."""
    return _PRIVATE_USE.subn("", text)


def replacement_char(text: str) -> Result:
    """Remove U+FFFD REPLACEMENT CHARACTER (bytes that failed to decode somewhere upstream)."""
    if "\ufffd" not in text:
        return text, 0
    return _REPLACEMENT.subn("", text)


_IDS = regex.compile(r"[\u2ff0-\u2fff]")
_IDS_TERNARY = "\u2ff2\u2ff3"  # ⿲ ⿳ take three components, the other operators two


def _ids_end(text: str, i: int, depth: int = 0) -> int:
    """End offset of the ideographic description sequence starting at text[i] (an IDS operator)."""
    j = i + 1
    for _ in range(3 if text[i] in _IDS_TERNARY else 2):
        if j >= len(text) or text[j] == "\n":
            break
        j = _ids_end(text, j, depth + 1) if _IDS.match(text[j]) and depth < 8 else j + 1
    return j


def _strip_ids(text: str) -> Result:
    parts, pos, hits = [], 0, 0
    for m in _IDS.finditer(text):
        if m.start() < pos:
            continue  # inside the sequence just removed
        parts.append(text[pos : m.start()])
        pos = _ids_end(text, m.start())
        hits += 1
    parts.append(text[pos:])
    return "".join(parts), hits


def glyph_placeholder(text: str) -> Result:
    """Remove □/〓 placeholders together with their glyph descriptions, and ideographic description sequences."""
    hits = 0
    if "□" in text or "〓" in text:
        text, hits = _GLYPH.subn("", text)
    if _IDS.search(text):
        text, n = _strip_ids(text)
        hits += n
    return text, hits


def lost_chars(text: str) -> Result:
    """Remove ASCII "?" that stands for a character lost in encoding (see _LOST_CHAR), not a question."""
    if "?" not in text:
        return text, 0
    return _LOST_CHAR.subn("", text)


def footnote_markers(text: str) -> Result:
    """Remove footnote markers: [1], ［2］, 〔3〕, 【4】, circled ①-⑳, parenthesized ⑴-⒇, (注5).

    The footnote's own text is kept (it is prose); only the reference mark goes.
    """
    return _FOOTNOTE.subn("", text)


def censor_masks(text: str, mode: str) -> Result:
    """'drop': remove runs of 2+ asterisks (* or ＊) next to Chinese text; 'keep': leave them.

    Such runs stand for censored or unreadable characters (玉梨魂 "问渠无语最**"; the early OCR
    三国演义 "张布府**饮" where the print has 中共). What they hid is unknown, so the mask is dropped
    rather than taught to the model as if it were text.
    """
    if mode == "keep" or ("*" not in text and "＊" not in text):
        return text, 0
    return _CENSOR.subn("", text)
