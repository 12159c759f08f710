"""Required literals of a pattern: every match holds one, and the prefiltered rule removes exactly what
the pattern alone removes."""

from __future__ import annotations

import random

import pytest
import regex

from transforms.cleaning.literals import Prefiltered, required_literals, subn_all
from transforms.cleaning.patterns import load_patterns


@pytest.mark.parametrize("pattern, expected", [
    ("abc", ("abc",)),
    ("x(?:首发于|独家首发|首发)y", ("首发",)),  # 首发于 and 独家首发 hold 首发: it alone says the same
    (r"^[ \t]*(?:更多|最新)?(?:精彩)+请访问", ("请访问",)),  # the longest certain piece wins
    ("[：:]整理", ("整理",)),
    ("[：:]", (":", "：")),
    ("(?:ab|cd){2,}", ("ab", "cd")),
])
def test_required_literals(pattern, expected):
    assert required_literals(pattern) == expected


@pytest.mark.parametrize("pattern, flags", [
    ("(?:ab)?c?", 0),  # nothing is certain
    ("a|.", 0),  # one branch needs nothing
    ("abc", regex.IGNORECASE),
    ("(?i:abc)", 0),
    (r"\p{Han}+首发", 0),  # re cannot read it: no answer rather than a guess
    ("(?:首发){e<=1}", 0),  # regex's fuzzy matching looks like literal braces to re
    ("[[:alpha:]]首发", 0),  # a nested set re would read differently
    ("[abcdefghij]", 0),  # a class too wide to be worth searching for
])
def test_no_literals_when_none_can_be_told_safely(pattern, flags):
    assert required_literals(pattern, flags) is None


def test_every_match_holds_a_required_literal():
    rng = random.Random(3)
    for pattern in ["首发(?:于|自)?[^。]{0,5}", "(?:ab|cd)+e", "x[yz]{1,3}w", "(?:整理|校对)[、和]?(?:扫描|录入)"]:
        compiled, literals = regex.compile(pattern), required_literals(pattern)
        assert literals is not None
        for _ in range(300):
            text = "".join(rng.choice("首发于自。abcdexyzw整理校对、和扫描录入") for _ in range(rng.randint(0, 30)))
            for m in compiled.finditer(text):
                assert any(s in m.group() for s in literals), (pattern, m.group())


def test_prefiltered_credit_rules_remove_what_the_plain_patterns_remove():
    patterns = load_patterns()
    rules = patterns.credit_lines + patterns.credit_sentences
    assert all(rule.literals for rule in rules)  # the packaged credit forms all have literals
    pieces = ["他们走进了院子。", "某某书屋：整理校对", "本书首发于某某网", "更多精彩请访问某某网", "（本章未完，请点击下一页继续阅读）",
              "本书由网友整理", "扫描", "首发", "。", "\n", "：", "某某网独家首发", "第二回 张翼德怒鞭督邮", "　"]
    rng = random.Random(11)
    hits = 0
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 12)))
        for rule in rules:
            expected = rule.compiled.subn("", text)
            assert rule.subn("", text) == expected, (rule.pattern, text)
            hits += expected[1]
    assert hits > 50  # the texts really hold credits
    unfiltered = Prefiltered(regex.compile(r"\p{Han}+"))
    assert unfiltered.literals is None and unfiltered.subn("", "本书ab") == ("ab", 1)


def _plain_in_turn(rules, text):
    hits = 0
    for rule in rules:
        text, n = rule.compiled.subn("", text)
        hits += n
    return text, hits


def test_subn_all_equals_the_plain_patterns_in_turn():
    patterns = load_patterns()
    rules = patterns.credit_lines + patterns.credit_sentences
    pieces = ["他们走进了院子。", "某某书屋：整理校对", "本书首发于某某网", "更多精彩请访问某某网", "本章未完", "本书由网友整理",
              "扫描", "首", "发", "。", "\n", "：", "某某网独家首发", "　", "整", "理"]
    rng = random.Random(12)
    for _ in range(400):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 14)))
        assert subn_all(rules, "", text) == _plain_in_turn(rules, text), text
    # A removal that joins a literal's halves: the second rule must see the new literal "ab".
    first, second = Prefiltered(regex.compile("x+")), Prefiltered(regex.compile("ab"))
    assert set(second.literals) == {"ab"}
    rules = (second, first, second)  # "ab" is looked up (absent), then created, then must be seen
    assert subn_all(rules, "", "axxb") == ("", 2) == _plain_in_turn(rules, "axxb")
