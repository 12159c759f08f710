"""The Cleaner: every enabled rule, in a fixed order, with per-rule hit and removed-character counts.

Order matters and is part of the contract:

1. Unicode: nfc, invisible, fullwidth (so later patterns see ASCII letters and simplified text),
   traditional (OpenCC t2s; with traditional='drop' a detection, then the `traditional` filter).
2. Junk: html, entities, emails, urls, watermarks, credits (patterns from patterns.toml).
3. Debris: private_use, replacement_char, glyph_placeholder, lost_chars, footnotes, censor_masks.
4. Layout: page_markers, separators, headings, wraps (needs the indentation still in place).
5. Punctuation and whitespace: cjk_punctuation, fullstop, cjk_spaces, indentation, blank_lines.

Filters of filters.cleaning_filters run right after their rule (`after_rule`); the first one that
fails a document ends its cleaning and becomes CleanResult.verdict. Build a Cleaner once per worker
(DoFn.setup): it compiles the patterns and loads OpenCC.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

from transforms.cleaning import debris, junk, normalize, wrap
from transforms.cleaning.config import CleanConfig
from transforms.cleaning.convert import Simplifier
from transforms.cleaning.filters import TRADITIONAL, CleanResult, Doc, cleaning_filters, first_failure
from transforms.cleaning.patterns import load_patterns

RuleFn = Callable[[str], "tuple[str, int]"]


class Cleaner:
    """Applies the enabled cleaning rules of a CleanConfig. Thread-compatible, holds no per-text state."""

    def __init__(self, cfg: CleanConfig):
        cfg.validate()
        self.cfg = cfg
        self._rules: list[tuple[str, RuleFn]] = _build_rules(cfg)
        self._filters = cleaning_filters(cfg)
        missing = [f.name for f in self._filters if f.after_rule not in self.rule_names]
        assert not missing, f"filters {missing} run after a rule that is not enabled"

    @property
    def rule_names(self) -> list[str]:
        """Names of the enabled rules, in the order they run."""
        return [name for name, _ in self._rules]

    def steps(self, text: str) -> Iterator[tuple[str, str, str]]:
        """Yield (rule_name, before, after) for each enabled rule in order (used by `longlm clean --diff`).

        Stops after the rule whose filter fails the text (traditional='drop' on a traditional text).
        """
        for name, before, after, _ in self._run(text):
            yield name, before, after

    def clean(self, text: str) -> CleanResult:
        """Run every enabled rule over `text` and return the cleaned text with per-rule counts."""
        result = CleanResult(text=text)
        for name, before, after, hits in self._run(text, result):
            result.hits[name] = hits
            result.removed[name] = max(0, len(before) - len(after))
            result.text = after
        return result

    def _run(self, text: str, result: CleanResult | None = None) -> Iterator[tuple[str, str, str, int]]:
        raw, hits_so_far = text, {}
        for name, rule in self._rules:
            after, hits = rule(text)
            yield name, text, after, hits
            hits_so_far[name] = hits
            filters = [f for f in self._filters if f.after_rule == name]
            verdict = first_failure(filters, Doc(raw, after, hits_so_far)) if filters else None
            if verdict is not None:
                if result is not None:
                    result.verdict = verdict
                return
            text = after


def _build_rules(cfg: CleanConfig) -> list[tuple[str, RuleFn]]:
    """(name, function) of every enabled rule, in the order they run."""
    pats = load_patterns(cfg.patterns_file or None)
    simplifier = Simplifier() if cfg.traditional != "keep" else None
    candidates: list[tuple[str, bool, RuleFn | None]] = [
        ("nfc", cfg.unicode_nfc, normalize.nfc),
        ("invisible", cfg.strip_invisible, normalize.strip_invisible),
        ("fullwidth", cfg.fullwidth_ascii, normalize.fullwidth_ascii),
        (
            TRADITIONAL,
            simplifier is not None,
            (simplifier.convert if cfg.traditional == "convert" else simplifier.detect) if simplifier else None,
        ),
        ("html", cfg.html, partial(junk.strip_html, patterns=pats)),
        ("entities", cfg.entities, partial(junk.decode_entities, patterns=pats)),
        ("emails", cfg.emails, partial(junk.strip_emails, patterns=pats)),
        ("urls", cfg.urls, partial(junk.strip_urls, patterns=pats)),
        (
            "watermarks",
            cfg.watermarks,
            partial(
                junk.strip_watermarks,
                patterns=pats,
                max_line_chars=cfg.watermark_max_line_chars,
                banner_lines=cfg.banner_scan_lines,
            ),
        ),
        ("credits", cfg.credits, partial(junk.strip_credits, patterns=pats)),
        ("private_use", cfg.glyph_debris, debris.private_use),
        ("replacement_char", cfg.glyph_debris, debris.replacement_char),
        ("glyph_placeholder", cfg.glyph_debris, debris.glyph_placeholder),
        ("lost_chars", cfg.glyph_debris, debris.lost_chars),
        ("footnotes", cfg.footnotes, debris.footnote_markers),
        ("censor_masks", cfg.censor_masks != "keep", partial(debris.censor_masks, mode=cfg.censor_masks)),
        ("page_markers", cfg.page_markers, partial(wrap.strip_page_markers, patterns=pats)),
        ("separators", cfg.separators, wrap.blank_separators),
        ("headings", cfg.split_headings, wrap.split_glued_headings),
        ("wraps", cfg.rejoin_wraps, partial(wrap.rejoin_wraps, min_chars=cfg.wrap_min_chars)),
        ("cjk_punctuation", cfg.cjk_punctuation, normalize.cjk_punctuation),
        ("fullstop", cfg.fullstop, normalize.fullstop),
        ("cjk_spaces", cfg.cjk_spaces, normalize.cjk_spaces),
        ("indentation", cfg.strip_indentation, normalize.strip_indentation),
        ("blank_lines", cfg.blank_lines != "keep", partial(normalize.blank_lines, mode=cfg.blank_lines)),
    ]
    return [(name, fn) for name, enabled, fn in candidates if enabled and fn is not None]
