"""The Cleaner as a whole: rule order, counts, steps(), switches, traditional modes, and prose safety."""

from __future__ import annotations

import dataclasses

import pytest

from transforms.cleaning.cleaner import TRADITIONAL, Cleaner
from transforms.cleaning.config import CleanConfig, FilterConfig
from transforms.config_base import ConfigError

PROSE = (
    "第一回 宴桃园豪杰三结义\n"
    "他说：“你好……”她笑了——然后走了。\n"
    "1932年3月，价钱3.5元，12:30到。他读过Hello, world.一文。\n"
    "“你去哪？”“回家！”"
)

JUNKY = (
    "\ufeff本书来自www.xxx.com免费txt小说下载站\n"
    "　　第一回　宴桃园豪杰三结义\n"
    "　　他说:“你好……”&nbsp;她笑了——然后\u200b走了。[1]\n"
    "----- Page 2 -----\n"
    "　　1932年3月，价钱3.5元，１２:30到。他读过Hello, world.一文。□【左“鱼”右“便”】\n"
    "手机用户请访问m.xxx.com阅读，更优质的阅读体验。\n"
    "　　“你去哪？”“回家！”\ue000\n\n\n"
)


@pytest.fixture(scope="module")
def cleaner() -> Cleaner:
    return Cleaner(CleanConfig())


def test_real_prose_passes_unchanged(cleaner):
    result = cleaner.clean(PROSE)
    assert result.text == PROSE
    assert sum(result.removed.values()) == 0
    assert result.verdict is None


def test_junk_document_cleans_to_the_prose(cleaner):
    result = cleaner.clean(JUNKY)
    assert result.text == PROSE
    for rule in ("invisible", "urls", "watermarks", "entities", "footnotes", "page_markers", "glyph_placeholder",
                 "private_use", "cjk_punctuation", "indentation", "blank_lines", "fullwidth"):
        assert result.hits[rule] >= 1, rule
    assert sum(result.removed.values()) == len(JUNKY) - len(PROSE)


def test_hits_and_removed_cover_every_enabled_rule_in_order(cleaner):
    result = cleaner.clean(JUNKY)
    assert list(result.hits) == cleaner.rule_names
    assert list(result.removed) == cleaner.rule_names
    assert all(v >= 0 for v in result.removed.values())


def test_steps_chain_and_agree_with_clean(cleaner):
    steps = list(cleaner.steps(JUNKY))
    assert [name for name, _, _ in steps] == cleaner.rule_names
    assert steps[0][1] == JUNKY
    for (_, _, after), (_, before, _) in zip(steps, steps[1:]):
        assert after == before
    assert steps[-1][2] == cleaner.clean(JUNKY).text
    result = cleaner.clean(JUNKY)
    for name, before, after in steps:
        assert result.removed[name] == max(0, len(before) - len(after))


def test_disabled_rules_do_not_run():
    cfg = CleanConfig(urls=False, footnotes=False, cjk_spaces=False)
    c = Cleaner(cfg)
    assert "urls" not in c.rule_names and "footnotes" not in c.rule_names and "cjk_spaces" not in c.rule_names
    out = c.clean("他说www.abc.com道[1]，我 来了。").text
    assert "www.abc.com" in out and "[1]" in out and "我 来" in out


def test_every_rule_can_be_switched_off():
    off = {f.name: False for f in dataclasses.fields(CleanConfig) if f.type in (bool, "bool")}
    c = Cleaner(CleanConfig(traditional="keep", censor_masks="keep", blank_lines="keep", **off))
    assert c.rule_names == []
    assert c.clean(JUNKY).text == JUNKY


TRAD = "我們說這個國家的歷史很長，後來他們都來了。"
SIMP = "我们说这个国家的历史很长，后来他们都来了。"


def test_traditional_convert_keep_drop():
    assert Cleaner(CleanConfig()).clean(TRAD).text == SIMP
    assert Cleaner(CleanConfig(traditional="keep")).clean(TRAD).text == TRAD
    dropped = Cleaner(CleanConfig(traditional="drop")).clean(TRAD)
    assert dropped.verdict.reason == TRADITIONAL
    assert dropped.verdict.value > 0.1 and dropped.verdict.threshold == 0.1


def test_traditional_drop_keeps_simplified_text_with_a_few_variants():
    text = SIMP * 20 + "於是"
    result = Cleaner(CleanConfig(traditional="drop")).clean(text)
    assert result.verdict is None
    assert result.text == text  # 'drop' never converts


def test_steps_stop_at_the_traditional_check_when_dropping():
    c = Cleaner(CleanConfig(traditional="drop"))
    names = [name for name, _, _ in c.steps(TRAD)]
    assert names[-1] == TRADITIONAL
    assert len(names) < len(c.rule_names)


def test_cleaning_is_deterministic(cleaner):
    a = cleaner.clean(JUNKY)
    b = Cleaner(CleanConfig()).clean(JUNKY)
    assert (a.text, a.hits, a.removed) == (b.text, b.hits, b.removed)


@pytest.mark.parametrize(
    ("cfg", "key"),
    [
        (CleanConfig(traditional="maybe"), "clean.traditional"),
        (CleanConfig(blank_lines="squash"), "clean.blank_lines"),
        (CleanConfig(wrap_min_chars=0), "clean.wrap_min_chars"),
        (CleanConfig(traditional_drop_ratio=0.0), "clean.traditional_drop_ratio"),
        (FilterConfig(top_ngram_fractions=[0.2]), "filter.top_ngram_fractions"),
        (FilterConfig(max_dup_line_fraction=1.5), "filter.max_dup_line_fraction"),
        (FilterConfig(min_han_ratio="high"), "filter.min_han_ratio"),
        (FilterConfig(min_mean_line_length=50.0, max_mean_line_length=10.0), "filter.max_mean_line_length"),
    ],
)
def test_bad_config_values_name_their_key(cfg, key):
    with pytest.raises(ConfigError) as e:
        cfg.validate()
    assert e.value.key == key


def test_configs_are_documented_and_sectioned():
    assert CleanConfig.section == "clean" and FilterConfig.section == "filter"
    CleanConfig().validate()
    FilterConfig().validate()
    for cls in (CleanConfig, FilterConfig):
        for f in dataclasses.fields(cls):
            assert f.metadata.get("doc"), f"{cls.__name__}.{f.name} has no doc"
    fields = {f.name: f for f in dataclasses.fields(CleanConfig)}
    assert fields["traditional"].metadata["choices"] == ("convert", "keep", "drop")
    docs = {f.name: f.metadata["doc"] for f in dataclasses.fields(FilterConfig)}
    for name in ("max_dup_line_fraction", "top_ngram_fractions", "min_mean_line_length", "min_han_ratio"):
        assert "FineWeb-2" in docs[name], name
    assert "Gopher" in docs["min_chars"]
