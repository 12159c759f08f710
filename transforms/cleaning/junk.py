"""Junk rules: HTML, entities, e-mail addresses, URLs, site watermarks and ads.

The patterns come from the package's data file (see :mod:`transforms.cleaning.patterns`); these
functions only apply them. Each returns `(text, hits)`.
"""

from __future__ import annotations

import html

import regex

from transforms.cleaning.literals import subn_all
from transforms.cleaning.patterns import KeywordSet, PatternSet

Result = tuple[str, int]


def _sub(patterns: tuple, repl, text: str) -> Result:
    """Apply each pattern of a group in turn; hits add up."""
    hits = 0
    for pattern in patterns:
        text, n = pattern.subn(repl, text)
        hits += n
    return text, hits


def strip_html(text: str, patterns: PatternSet) -> Result:
    """Remove scripts, comments and e-mail-obfuscation debris; block tags -> newline; other tags removed."""
    if "<" not in text and "__cf_email__" not in text and "protected]" not in text:
        return text, 0
    text, a = _sub(patterns.html_remove, "", text)
    text, b = _sub(patterns.html_break, "\n", text)
    text, c = _sub(patterns.html_tag, "", text)
    return text, a + b + c


def _unescape(m: regex.Match) -> str:
    entity = m.group()
    if not entity.endswith(";"):
        entity += ";"
    out = html.unescape(entity)
    return "" if out == entity else out


def decode_entities(text: str, patterns: PatternSet) -> Result:
    """Decode HTML entities (&times; -> ×, &#160; -> NBSP, &nbsp -> NBSP); unknown named entities are removed."""
    if "&" not in text:
        return text, 0
    return _sub(patterns.entity, _unescape, text)


def strip_emails(text: str, patterns: PatternSet) -> Result:
    """Remove e-mail addresses."""
    if "@" not in text:
        return text, 0
    return _sub(patterns.email, "", text)


def strip_urls(text: str, patterns: PatternSet) -> Result:
    """Remove URLs, www.-addresses (also written with 。/点) and bare domains with a known TLD."""
    return _sub(patterns.url, "", text)


def strip_watermarks(text: str, patterns: PatternSet, max_line_chars: int, banner_lines: int) -> Result:
    """Remove inserted ad sentences, navigation lines, short lines holding an ad keyword, and licence banners.

    An ad keyword removes its whole line only if the line has at most `max_line_chars` characters
    (a long paragraph mentioning 下一章 is prose). Banner keywords are only looked for in the first
    and last `banner_lines` non-empty lines, and a banner line needs two different ones.
    """
    # Whole-line forms first, so an ad that fills its line takes the line break with it.
    text, hits = _sub(patterns.watermark_inline_lines + patterns.watermark_line_patterns, "", text)
    text, n = _sub(patterns.watermark_inline, "", text)
    hits += n
    if patterns.watermark_line is not None:
        text, n = _strip_ad_lines(text, patterns.watermark_line, max_line_chars)
        hits += n
    if patterns.banner_line is not None and banner_lines > 0:
        text, n = _strip_banners(text, patterns.banner_line, banner_lines)
        hits += n
    return text, hits


def _strip_ad_lines(text: str, keywords: KeywordSet, max_line_chars: int) -> Result:
    """Remove every line of at most `max_line_chars` characters that holds a keyword (with its newline)."""
    lines: list[tuple[int, int]] = []
    for kw_start, kw_end in keywords.spans(text):
        if lines and kw_start < lines[-1][1]:
            continue  # same line as the previous keyword
        start = text.rfind("\n", 0, kw_start) + 1
        end = text.find("\n", kw_end)
        end = len(text) if end < 0 else end
        if end - start <= max_line_chars:
            lines.append((start, min(end + 1, len(text))))
        else:  # a long line is prose; the empty span makes its other keywords skip it too
            lines.append((end, end))
    spans = [(a, b) for a, b in lines if b > a]
    if not spans:
        return text, 0
    parts, prev = [], 0
    for start, end in spans:
        parts.append(text[prev:start])
        prev = end
    parts.append(text[prev:])
    return "".join(parts), len(spans)


#: A banner line is at most this long and holds at least this many different banner keywords
#: ("本书由某某整理制作，版权归作者所有" has three; a preface's "本书由三部分组成" one).
BANNER_MAX_CHARS = 300
BANNER_MIN_KEYWORDS = 2


def _strip_banners(text: str, banner: KeywordSet, scan: int) -> Result:
    lines = text.split("\n")
    nonempty = [i for i, line in enumerate(lines) if line.strip()]
    if not nonempty:
        return text, 0
    candidates = set(nonempty[:scan]) | set(nonempty[-scan:])
    drop = {
        i
        for i in candidates
        if len(lines[i].strip()) <= BANNER_MAX_CHARS and banner.distinct(lines[i]) >= BANNER_MIN_KEYWORDS
    }
    if not drop:
        return text, 0
    return "\n".join(line for i, line in enumerate(lines) if i not in drop), len(drop)


def strip_credits(text: str, patterns: PatternSet) -> Result:
    """Remove source credit and ad sentences (patterns.toml [credits], one pattern per form).

    A form is removed only as a whole line (with its line break) or as a whole sentence: starting a
    line or after a sentence end, ending at a sentence end, a closing bracket or its line's end.
    """
    text, hits = subn_all(patterns.credit_lines + patterns.credit_sentences, "", text)
    return text, hits
