"""Chapter headings: 第X回/章/卷/节/集/部 lines, 正文/上卷 prefixes, 楔子/序/尾声 and the like.

Headings are hard boundaries for later stages (segmentation never crosses one, the dedupe stage never
treats one as boilerplate), so the cleaner keeps each heading on a line of its own and never joins
it with its neighbours. :func:`is_chapter_heading` is the one definition of a heading line every stage
uses; :data:`INLINE_HEADING` (segment) and :data:`GLUED_HEADING` (cleaning) find headings inside a line.
"""

from __future__ import annotations

import re

import regex

from transforms.cleaning.chars import SENTENCE_END, SPACE

#: Longest line (after stripping) that can be a heading: titles of 回目 run to ~30 characters.
MAX_HEADING_CHARS = 50
#: Longest title of a numbered section heading such as "五 月光" (a bare numeral, a space, the title).
MAX_SECTION_TITLE = 16

#: A chapter number: digits or Chinese numerals.
NUMERAL = r"[0-9零〇一二三四五六七八九十百千万两廿卅]{1,9}"
_NUM = NUMERAL
_UNIT = r"[回章卷节集部篇折幕]"
_SP = SPACE + r"*"
# Volume prefixes: 正文, 上卷/中卷/下卷, 卷一, 卷之三, 第一卷 (then a 第X回 heading may follow).
_PREFIX = rf"(?:正文|[上中下]卷|卷[上中下]|卷之?{_NUM}|第{_NUM}卷)"
# Stand-alone section names.
_NAMED = r"(?:楔子|序章?|序言|自序|代序|引子|引首|引言|前言|尾声|后记|跋|终章|番外(?:篇)?|附录)"
_TAIL = rf"(?:(?:{SPACE}|[：:、.．·\-—])[^\n]*)?"
# A numbered section title: a Chinese numeral, spaces, a short title without punctuation ("五 月光").
_SECTION = rf"[零〇一二三四五六七八九十百]{{1,4}}{SPACE}+[^\s\p{{P}}]{{1,{MAX_SECTION_TITLE}}}"

_HEADING = regex.compile(
    rf"""^(?:
        (?:{_PREFIX}{_SP})?第{_NUM}{_UNIT}{_TAIL}          # 第一回 宴桃园…, 正文 第一章, 上卷 第一回
      | {_PREFIX}{_TAIL}                                  # 卷一 / 上卷 alone, or with a title
      | (?:{_PREFIX}{_SP})?{_NAMED}{_TAIL}                # 楔子, 尾声, 附录 陈光蕊赴任逢灾…
      | (?i:chapter){_SP}[0-9ivxlc]+{_TAIL}               # Chapter 12
      | {_SECTION}                                        # 五 月光 (numbered sections of a story)
    )$""",
    regex.VERBOSE,
)
#: Endings that mark prose, not a title: a heading never ends with a full stop or a comma.
_PROSE_END = tuple("。，；、")


def is_chapter_heading(line: str) -> bool:
    """True when `line` (one line, surrounding whitespace ignored) is a chapter/volume/section heading.

    Matches 第X回/章/卷/节/集/部 (Chinese or Arabic numerals) with an optional title and optional
    正文/上卷/卷一 prefix, a volume prefix alone, and named sections (楔子, 序, 引子, 尾声, 后记, 番外,
    附录 ...), optionally followed by a title after a space or colon, and numbered sections: a Chinese
    numeral, a space and a short title without punctuation ("五 月光", "六 崖上"). Lines longer than
    MAX_HEADING_CHARS or ending like prose (。，；、) are not headings, so "第三回合他就败了。" is prose.
    """
    s = line.strip()
    if not s or len(s) > MAX_HEADING_CHARS or s.endswith(_PROSE_END):
        return False
    return _HEADING.match(s) is not None


def heading_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of every heading line of `text`, in order (end excludes the newline)."""
    spans = []
    start = 0
    for line in text.split("\n"):
        end = start + len(line)
        # Cheap pre-check: every heading has one of these characters.
        if len(line) <= MAX_HEADING_CHARS + 8 and _MAYBE.search(line) and is_chapter_heading(line):
            spans.append((start, end))
        start = end + 1
    return spans


_MAYBE = regex.compile(rf"[第卷序楔引尾跋后前终番附正]|(?i:chapter)|^{SPACE}*[零〇一二三四五六七八九十百]+{SPACE}")

#: A chapter heading opening a sentence inside a line: 第X回/章, after an optional 正文, 上卷, 卷一 ... (a novel
#: scraped as one line has its headings glued to the text around them). 第三回合 (a round of a fight) is prose.
INLINE_HEADING = re.compile(rf" ?(?:正文|[上中下]卷|卷之?{NUMERAL}|第{NUMERAL}卷)?第{NUMERAL}[回章](?!合)")
#: Where a heading glued after a sentence end starts ("……而去。第二回 xxx"): a sentence end (not an ellipsis)
#: or closing quote, then 第X回/章/卷/节 (small numerals only) followed by a space and a title.
GLUED_HEADING = regex.compile(
    rf"(?<=[{SENTENCE_END.replace('…', '')}”」』]){SPACE}*"
    rf"(?=(?:正文{SPACE}*)?第[0-9零〇一二三四五六七八九十百千两]{{1,9}}[回章卷节]{SPACE}+\S)"
)
