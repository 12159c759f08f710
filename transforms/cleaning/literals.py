"""Required literals of a regular expression: a cheap, exact test that a pattern cannot match a text.

A credit pattern costs the `regex` engine a few hundred nanoseconds per character of every novel, and
most novels hold none of the words most credit forms need (bench/README.md, "Scale"). :func:`required_literals` reads a pattern's syntax tree
and returns strings one of which every match must contain; when none of them is in a text, the pattern
cannot match there and :class:`Prefiltered` skips it (the result is the same, by construction).

The tree is stdlib `re`'s parser's. Patterns it cannot read as `regex` reads them get no literals
(never a wrong answer): anything it refuses (``\\p{..}``, ``\\m``, ``(?V1)`` ...), anything it warns
about (nested sets, set operations), a literal ``{`` (what `regex`'s fuzzy ``{e<=1}`` looks like to
`re`), and case-insensitive patterns.
"""

from __future__ import annotations

import re
import sys
import warnings

import regex

if sys.version_info >= (3, 11):
    import re._constants as _c
    import re._parser as _parser
else:  # pragma: no cover - exercised on 3.10 only
    import sre_constants as _c
    import sre_parse as _parser

#: At most this many alternative strings (an alternation of more is not worth searching for).
MAX_LITERALS = 32
#: A character class counts as a requirement when it lists at most this many characters.
MAX_CLASS_CHARS = 8

_REPEATS = {_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", _c.MAX_REPEAT)}
_CASELESS = regex.IGNORECASE | getattr(regex, "FULLCASE", 0)


class _Unreadable(Exception):
    """The pattern holds something `re` may read differently from `regex`."""


def required_literals(pattern: str, flags: int = 0) -> tuple[str, ...] | None:
    """Strings (sorted) one of which every match of `pattern` (compiled by `regex` with `flags`)
    contains, or None when no such short list can be told safely."""
    if flags & _CASELESS or flags & regex.VERBOSE:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            parsed = _parser.parse(pattern, 0)
        if parsed.state.flags & (re.IGNORECASE | re.VERBOSE):
            return None
        found = _sequence(list(parsed))
    except (re.error, Warning, _Unreadable, RecursionError, ValueError, TypeError):
        return None
    if not found:
        return None
    # a string holding another one of the list adds nothing to the test
    return tuple(sorted(s for s in found if not any(t != s and t in s for t in found)))


def _better(a: frozenset | None, b: frozenset | None) -> frozenset | None:
    """The more selective of two requirements: longer shortest string, then fewer strings."""
    if a is None or b is None:
        return a if b is None else b
    return max(a, b, key=lambda s: (min(map(len, s)), -len(s)))


def _sequence(items: list) -> frozenset | None:
    """Requirement of a concatenation: the best of its items' (and of its runs of literal characters)."""
    best, run = None, ""
    for op, av in items:
        if op == _c.LITERAL:
            if chr(av) == "{":
                raise _Unreadable("literal brace")
            run += chr(av)
            continue
        if run:
            best, run = _better(best, frozenset([run])), ""
        best = _better(best, _item(op, av))
    return _better(best, frozenset([run])) if run else best


def _item(op, av) -> frozenset | None:
    if op == _c.SUBPATTERN:
        _group, add_flags, _del_flags, body = av
        if add_flags & (re.IGNORECASE | re.VERBOSE):
            return None
        return _sequence(list(body))
    if op == getattr(_c, "ATOMIC_GROUP", None):
        return _sequence(list(av))
    if op == _c.BRANCH:
        out: set = set()
        for branch in av[1]:
            req = _sequence(list(branch))
            if req is None:
                return None
            out |= req
        return frozenset(out) if len(out) <= MAX_LITERALS else None
    if op in _REPEATS:
        low, _high, body = av
        return _sequence(list(body)) if low >= 1 else None
    if op == _c.IN:
        if len(av) > MAX_CLASS_CHARS or any(o != _c.LITERAL for o, _ in av):
            return None
        return frozenset(chr(v) for _, v in av)
    return None  # anchors, lookarounds, categories, negated classes, any character, back-references


class Prefiltered:
    """A compiled `regex` pattern whose `subn` first checks the required literals."""

    __slots__ = ("compiled", "literals")

    def __init__(self, compiled: regex.Pattern):
        self.compiled = compiled
        self.literals = required_literals(compiled.pattern, compiled.flags)

    @property
    def pattern(self) -> str:
        return self.compiled.pattern

    def subn(self, repl, text: str, present: dict[str, bool] | None = None) -> tuple[str, int]:
        """`compiled.subn(repl, text)`; (text, 0) at once when no required literal is in `text`.

        `present` caches "literal in text" answers for this very text across patterns that share
        literals (:func:`subn_all`)."""
        if self.literals is not None:
            if present is None:
                present = {}
            found = False
            for s in self.literals:
                hit = present.get(s)
                if hit is None:
                    hit = present[s] = s in text
                if hit:
                    found = True
                    break
            if not found:
                return text, 0
        return self.compiled.subn(repl, text)


def subn_all(patterns, repl, text: str) -> tuple[str, int]:
    """Apply each Prefiltered pattern in turn (hits add up), looking each literal up once per text state.

    The cache is dropped whenever a pattern changed the text: a removal can join two halves of a literal."""
    hits, present = 0, {}
    for pattern in patterns:
        text, n = pattern.subn(repl, text, present)
        if n:
            hits += n
            present = {}
    return text, hits
