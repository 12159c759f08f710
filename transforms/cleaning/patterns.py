"""Load the junk patterns (HTML, entities, URLs, e-mails, watermarks, credits, page markers) from TOML.

The patterns are data, not code: the packaged `patterns.toml` holds the defaults and a corpus can
point `clean.patterns_file` at its own copy. :func:`load_patterns` compiles them once; the Cleaner
calls it in its constructor (that is, in `DoFn.setup`), never at import time.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from importlib import resources

import regex

from transforms.cleaning.chars import SENTENCE_END
from transforms.cleaning.literals import Prefiltered
from transforms.config_base import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib


Patterns = tuple  # tuple[regex.Pattern, ...], applied one after the other


class KeywordSet:
    """Case-insensitive search for many literal keywords at once.

    The stdlib `re` engine scans a plain alternation of literals several times faster than `regex`
    or than any case-insensitive pattern, so keywords are lowercased and searched in the lowercased
    text (same offsets: lowercasing never shortens a string, so equal lengths mean 1:1).
    """

    def __init__(self, words: list[str]):
        ordered = sorted({w.lower() for w in words}, key=lambda w: (-len(w), w))
        alt = "|".join(re.escape(w) for w in ordered)
        self._fast = re.compile(alt)
        self._slow = regex.compile(alt, regex.IGNORECASE)

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of every keyword occurrence in `text`, left to right, non-overlapping."""
        low = text.lower()
        pattern = self._fast if len(low) == len(text) else self._slow
        return [m.span() for m in pattern.finditer(low if pattern is self._fast else text)]

    def distinct(self, text: str) -> int:
        """How many different keywords `text` holds (non-overlapping matches, case-insensitive)."""
        return len({m.group().lower() for m in self._slow.finditer(text)})


@dataclass(frozen=True)
class PatternSet:
    """Compiled pattern groups. Groups are tuples of patterns applied in order (separate patterns keep
    the regex engine's literal-prefix search, which one big alternation loses); keyword groups are one
    pattern or None."""

    html_remove: Patterns
    html_break: Patterns
    html_tag: Patterns
    entity: Patterns
    email: Patterns
    url: Patterns
    watermark_inline: Patterns
    watermark_inline_lines: Patterns
    watermark_line_patterns: Patterns
    watermark_line: KeywordSet | None
    banner_line: KeywordSet | None
    page_inline: Patterns
    page_line: Patterns
    credit_lines: Patterns = ()  # of literals.Prefiltered: skipped on texts without a form's required words
    credit_sentences: Patterns = ()


def _compile(pattern: str, key: str, flags: int = 0) -> regex.Pattern:
    try:
        return regex.compile(pattern, flags)
    except regex.error as e:
        raise ConfigError(key, f"invalid regular expression {pattern!r}: {e}") from e


def _group(patterns: list[str], key: str) -> Patterns:
    if not all(isinstance(p, str) and p for p in patterns):
        raise ConfigError(key, "must be a list of non-empty strings")
    compiled = tuple(_compile(p, key) for p in patterns)
    for p in compiled:
        if p.fullmatch("") or p.fullmatch("\n"):
            raise ConfigError(key, f"pattern {p.pattern!r} matches empty text or a bare line break")
    return compiled


def _keywords(words: list[str], key: str) -> KeywordSet | None:
    if not words:
        return None
    if not all(isinstance(w, str) and w for w in words):
        raise ConfigError(key, "must be a list of non-empty strings")
    return KeywordSet(words)


def _whole_lines(patterns: list[str], key: str) -> Patterns:
    """Each pattern, anchored to match a whole line (surrounding spaces allowed) with its newline."""
    _group(patterns, key)  # validates
    return tuple(
        _compile(rf"^[ \t\u3000]*(?:{p})[ \t\u3000]*(?:\n|$)", key, regex.MULTILINE) for p in patterns
    )


_SP = "[ \\t\\u3000]*"
_SENTENCE_START = rf"(?:^|(?<=[{SENTENCE_END}」』”]))"


def _credit_lines(patterns: list[str], key: str) -> Patterns:
    """Each credit pattern as a whole line (optional brackets, trailing full stops) with its line break."""
    _group(patterns, key)  # validates
    return tuple(
        Prefiltered(_compile(rf"^{_SP}[（(【\[]?(?:{p})[）)】\]]?[{SENTENCE_END}]*{_SP}(?:\n|$)", key, regex.MULTILINE))
        for p in patterns
    )


def _credit_sentences(patterns: list[str], key: str) -> Patterns:
    """Each credit pattern as a whole sentence: it starts a line or follows a sentence end, and either
    fills a pair of brackets or ends at a sentence end (taken with it) or at the end of its line."""
    return tuple(
        Prefiltered(_compile(
            rf"{_SENTENCE_START}{_SP}(?:[（(【\[](?:{p})[）)】\]]|(?:{p})(?=[{SENTENCE_END}\n]|$))[{SENTENCE_END}]*",
            key,
            regex.MULTILINE,
        ))
        for p in patterns
    )


def read_pattern_text(path: str | None) -> str:
    """The TOML text of `path` (read through Beam FileSystems), or of the packaged patterns.toml."""
    if not path:
        return resources.files("transforms.cleaning").joinpath("patterns.toml").read_text(encoding="utf-8")
    from apache_beam.io.filesystems import FileSystems

    try:
        with FileSystems.open(path) as f:
            return f.read().decode("utf-8")
    except OSError as e:
        raise ConfigError("clean.patterns_file", f"cannot read {path}: {e}") from e


def load_patterns(path: str | None = None) -> PatternSet:
    """Compile the pattern file at `path` ("" or None: the packaged one). Raises ConfigError if invalid."""
    try:
        data = tomllib.loads(read_pattern_text(path))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError("clean.patterns_file", f"not valid TOML: {e}") from e

    def group(table: str, key: str) -> list[str]:
        value = data.get(table, {}).get(key, [])
        if not isinstance(value, list):
            raise ConfigError(f"patterns.{table}.{key}", "must be a list")
        return value

    return PatternSet(
        html_remove=_group(group("html", "patterns"), "patterns.html.patterns"),
        html_break=_group(group("html", "break_patterns"), "patterns.html.break_patterns"),
        html_tag=_group(group("html", "tag_patterns"), "patterns.html.tag_patterns"),
        entity=_group(group("entities", "patterns"), "patterns.entities.patterns"),
        email=_group(group("emails", "patterns"), "patterns.emails.patterns"),
        url=_group(group("urls", "patterns"), "patterns.urls.patterns"),
        watermark_inline=_group(group("watermarks", "inline"), "patterns.watermarks.inline"),
        watermark_inline_lines=_whole_lines(group("watermarks", "inline"), "patterns.watermarks.inline"),
        watermark_line_patterns=_whole_lines(group("watermarks", "line_patterns"), "patterns.watermarks.line_patterns"),
        watermark_line=_keywords(group("watermarks", "line_keywords"), "patterns.watermarks.line_keywords"),
        banner_line=_keywords(group("watermarks", "banner_keywords"), "patterns.watermarks.banner_keywords"),
        credit_lines=_credit_lines(group("credits", "patterns"), "patterns.credits.patterns"),
        credit_sentences=_credit_sentences(group("credits", "patterns"), "patterns.credits.patterns"),
        page_inline=_group(group("page_markers", "inline"), "patterns.page_markers.inline"),
        # Inline markers that fill a line go with their line break, like the line-only ones.
        page_line=_whole_lines(
            group("page_markers", "inline") + group("page_markers", "line"), "patterns.page_markers.line"
        ),
    )
