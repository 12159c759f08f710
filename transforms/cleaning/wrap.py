"""Page layout debris: page markers, separator lines, glued headings and hard-wrapped lines.

PDF and OCR dumps break every line at the page width (~36 characters) and scatter page markers
(`----- Page 12 -----`, bare page numbers) through the text. These rules undo that:

- page markers go, taking their line with them so the text around them can be re-joined;
- decorative separator lines (-----, ※※※) become blank lines (a paragraph boundary stays);
- a chapter heading glued after a sentence end is moved to its own line;
- a line that ends mid-sentence is joined with the next one. Chapter headings are never joined.

Each rule returns `(text, hits)`.
"""

from __future__ import annotations

import re
from collections import Counter

import regex

from transforms.cleaning.chars import CONTINUATION, SPACE
from transforms.cleaning.headings import GLUED_HEADING, is_chapter_heading
from transforms.cleaning.patterns import PatternSet

Result = tuple[str, int]

_WS = " \t\u3000\u00a0"
_BARE_NUMBER = regex.compile(rf"^{SPACE}*[-—–~]?{SPACE}*[0-9]{{1,4}}{SPACE}*[-—–~]?{SPACE}*$")
_SEPARATOR = re.compile(  # stdlib re: faster than regex on this line-anchored class (bench/README.md)
    rf"^{SPACE}*(?:[-=_~*#·•.－＝＊～※◆◇○●☆★—]{SPACE}*){{3,}}$", re.MULTILINE
)
# A divider glued before text ("----------    看本回一段总冒"): ASCII-style rules only, so a
# line opening with the Chinese dash (——调寄《临江仙》) is untouched.
_LEADING_RULE = re.compile(rf"^{SPACE}*[-=*＝－＊~～_]{{4,}}{SPACE}*(?=\S)", re.MULTILINE)
_PAGE_HINT = re.compile(r"[0-9]|页")
_BARE_NUMBER_LINE = re.compile(r"(?:^|\n)[ \t\u3000\-—–~]*[0-9]{1,4}[ \t\u3000\-—–~]*(?:\n|$)")


def wrap_width(lines: list[str]) -> int | None:
    """The line width a hard-wrapped text was broken at, or None when the text is not hard-wrapped.

    A text is hard-wrapped when at least 30% of its non-empty lines (and at least 10 of them) have
    the most common length W or W-1, with W >= 20 characters (whitespace stripped).
    """
    lengths = [len(s) for s in (line.strip(_WS) for line in lines) if s]
    if len(lengths) < 10:
        return None
    counts = Counter(n for n in lengths if n >= 20)
    if not counts:
        return None
    width, _ = max(counts.items(), key=lambda kv: (kv[1] + counts.get(kv[0] - 1, 0), kv[0]))
    share = (counts[width] + counts.get(width - 1, 0)) / len(lengths)
    return width if share >= 0.3 else None


def _ends_mid_sentence(line: str) -> bool:
    s = line.rstrip(_WS)
    return bool(s) and CONTINUATION.match(s[-1]) is not None


def strip_page_markers(text: str, patterns: PatternSet) -> Result:
    """Remove page markers: explicit ones anywhere (patterns file) and bare page-number lines.

    A line holding only a number (optionally between dashes) is a page number when the text is
    hard-wrapped or when the line before it ends mid-sentence; elsewhere it may be a section number.
    """
    hits = 0
    if not _PAGE_HINT.search(text):  # every marker holds a digit or 页
        return text, 0
    for pattern in patterns.page_line + patterns.page_inline:
        text, n = pattern.subn("", text)
        hits += n
    if not _BARE_NUMBER_LINE.search(text):
        return text, hits
    lines = text.split("\n")
    wrapped = wrap_width(lines) is not None
    out: list[str] = []
    for line in lines:
        if _BARE_NUMBER.match(line):
            prev = next((p for p in reversed(out) if p.strip(_WS)), "")
            if wrapped or _ends_mid_sentence(prev):
                hits += 1
                continue
        out.append(line)
    return "\n".join(out), hits


def blank_separators(text: str) -> Result:
    """Lines made only of 3+ separator characters (-----, ====, ※※※, * * *, ◆◆◆) become blank lines;
    a rule of 4+ ASCII-style dashes/equals/asterisks glued before text on its line is removed."""
    text, n = _SEPARATOR.subn("", text)
    text, k = _LEADING_RULE.subn("", text)
    return text, n + k


def split_glued_headings(text: str) -> Result:
    """Start a new line before a 第X回/章/卷/节 heading that follows a sentence end on the same line.

    Only headings followed by a space and a title qualify ("……而去。第二回 xxx"), so prose such
    as "……了。第二回合他又败了" is left alone.
    """
    if "第" not in text:
        return text, 0
    return GLUED_HEADING.subn("\n", text)


def _double_spaced(lines: list[str]) -> bool:
    """True when most paragraphs are followed by a blank line (the text is double-spaced)."""
    nonempty = followed = 0
    for i in range(len(lines) - 1):
        if lines[i].strip(_WS):
            nonempty += 1
            followed += not lines[i + 1].strip(_WS)
    return nonempty >= 4 and followed >= 0.6 * nonempty


def rejoin_wraps(text: str, min_chars: int) -> Result:
    """Join hard-wrapped lines. Hits: number of line breaks removed.

    Line A is joined with the next non-empty line B when neither is a chapter heading and
    - A has at least `min_chars` characters and ends with a Han character or an opening bracket or
      quote (the sentence is cut mid-word), and B follows directly; in a double-spaced text B may
      follow one blank line when A looks like a wrapped line (at most GAP_WRAP_MAX characters) and B
      is no longer than A plus 8 (so a list line is not glued to the long paragraph after it); or
    - A has at least `min_chars` characters, ends with ，or 、 and B follows directly and starts
      with a Han character (a new paragraph opening with dialogue, “……”, is the author's layout); or
    - the text is hard-wrapped at width W (see :func:`wrap_width`), A is at least W-1 characters
      long and does not end with ：, and B follows directly and is not indented.
    """
    lines = text.split("\n")
    width = wrap_width(lines)
    # A double-spaced text puts one blank line after every line, wrapped or not, so there one blank
    # line may sit inside a wrapped paragraph; two or more always end it (as one does elsewhere).
    gap = 1 if _double_spaced(lines) else 0
    # Each output line is a list of parts joined once at the end: appending to a growing string
    # would copy it on every join (quadratic on a paragraph of many wrapped lines).
    out: list[list[str]] = []
    last = ""  # the last physical line appended to out[-1], stripped
    last_heading = True
    blanks = 0
    hits = 0
    for line in lines:
        s = line.strip(_WS)
        if not s:
            blanks += 1
            out.append([line])
            continue
        heading = is_chapter_heading(s)
        joins = out and blanks <= gap and not heading and not last_heading
        if joins and _joinable(last, line, blanks, width, min_chars):
            if blanks:
                del out[-blanks:]
            sep = " " if last[-1].isascii() and last[-1].isalnum() and s[0].isascii() and s[0].isalnum() else ""
            parts = out[-1]  # its last part is non-blank, so stripping it strips the whole line
            parts[-1] = parts[-1].rstrip(_WS)
            parts.append(sep + s)
            hits += 1
        else:
            out.append([line])
        last, last_heading, blanks = s, heading, 0
    return "\n".join("".join(parts) for parts in out), hits


_CUT = regex.compile(r"[\p{Han}「『“‘（《〈【〔]")
_HAN_START = regex.compile(r"[ \t\u3000\u00a0]*\p{Han}")


#: Longest line that, in a double-spaced text, may be a hard wrap continued after a blank line.
GAP_WRAP_MAX = 40


def _joinable(prev: str, line: str, blanks: int, width: int | None, min_chars: int) -> bool:
    """Whether `line` continues `prev` (the stripped last physical line), `blanks` blank lines apart."""
    if len(prev) >= min_chars:
        if _CUT.match(prev[-1]):
            if not blanks:
                return True
            return len(prev) <= GAP_WRAP_MAX and len(line.strip(_WS)) <= len(prev) + 8
        if prev[-1] in "，、" and not blanks and _HAN_START.match(line):
            return True
    # Hard-wrapped text: a full-width line continues unless the next one is indented (a new paragraph).
    if width is None or blanks or len(prev) < width - 1 or prev[-1] in "：:":
        return False
    return not line[:1].isspace()
