"""Quality filters: each reason fires on the junk it is for and not on prose; generated junk is dropped."""

from __future__ import annotations

import numpy as np
import pytest

from transforms.charsets import GB2312_LEVEL1
from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig, FilterConfig
from transforms.cleaning.filters import (
    COMMON_HAN_RATIO,
    DUP_LINE_FRACTION,
    HAN_RATIO,
    MEAN_LINE_LENGTH,
    MIN_LENGTH,
    PUNCTUATION_RATE,
    REMOVED_RATIO,
    TOP_NGRAM_REPETITION,
    CleanResult,
    dup_line_fraction,
    han_count,
    punctuation_rate,
    quality_check,
    top_ngram_fraction,
)

CFG = FilterConfig()


def _rng(seed: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(seed))


COMMON = list(GB2312_LEVEL1)


def prose(n_paragraphs: int = 30, seed: int = 1) -> str:
    """Novel-like text: varied sentences of common characters, with punctuation."""
    rng = _rng(seed)
    chars = COMMON
    paras = []
    for _ in range(n_paragraphs):
        sentences = []
        for _ in range(int(rng.integers(2, 6))):
            body = "".join(chars[i] for i in rng.integers(0, len(chars), int(rng.integers(8, 30))))
            sentences.append(body[: len(body) // 2] + "，" + body[len(body) // 2 :] + "。")
        paras.append("".join(sentences))
    return "\n".join(paras)


def check(text: str, raw: str | None = None, cfg: FilterConfig = CFG):
    return quality_check(text if raw is None else raw, CleanResult(text=text), cfg)


def test_prose_is_kept():
    assert check(prose()) is None


def test_short_document_min_length():
    v = check("他来了。")
    assert (v.reason, v.value, v.threshold) == (MIN_LENGTH, 4.0, 100.0)


def test_empty_document_min_length():
    v = check("")
    assert v.reason == MIN_LENGTH and v.value == 0.0


def test_mostly_removed_document():
    text = prose(5)
    raw = text + "www.example.com/" * 400
    v = check(text, raw)
    assert v.reason == REMOVED_RATIO
    expected = 1 - len(text.replace("\n", "")) / len(raw.replace("\n", ""))
    assert v.value == pytest.approx(expected)


def test_han_ratio_on_english_or_symbols():
    text = "\n".join("The quick brown fox jumps over the lazy dog number %d again." % i for i in range(40))
    v = check(text)
    assert v.reason == HAN_RATIO
    assert v.value == pytest.approx(han_count(text) / len(text.replace(" ", "").replace("\n", "")))


def test_common_han_ratio_on_rare_characters():
    rng = _rng(3)
    rare = "".join(chr(int(c)) for c in rng.integers(0x4E00, 0x9FA5, 3000))
    text = "\n".join(rare[i : i + 30] + "。" for i in range(0, len(rare), 30))
    v = check(text)
    assert v.reason == COMMON_HAN_RATIO and v.threshold == 0.7
    common = set(COMMON)
    assert v.value >= sum(c in common for c in rare) / len(rare)  # Big5 level 1 counts as common too
    assert v.value < 0.5


def test_common_han_ratio_accepts_traditional_prose():
    import opencc

    text = opencc.OpenCC("s2t").convert(prose(20))
    assert text != prose(20)
    assert check(text) is None


def test_mean_line_length_too_short():
    short = "\n".join(prose(1, seed=i)[:5] for i in range(200))
    assert check(short).reason == MEAN_LINE_LENGTH


def test_prose_without_line_structure_is_kept():
    """A novel whose paragraph breaks were stripped (one long line) is judged by its content."""
    long = prose(300).replace("\n", "")
    assert len(long) > CFG.max_mean_line_length
    assert check(long) is None
    no_full_stops = long.replace("。", "")  # scraped texts that lost their full stops keep their commas
    assert check(no_full_stops) is None


def _unpunctuated_common_han(n: int, seed: int) -> str:
    rng = _rng(seed)
    return "".join(COMMON[i] for i in rng.integers(0, len(COMMON), n))


def test_long_lines_without_punctuation_are_filtered():
    garbage = _unpunctuated_common_han(30_000, seed=4)  # common characters, no line, no punctuation
    v = check(garbage)
    assert (v.reason, v.value, v.threshold) == (PUNCTUATION_RATE, 0.0, CFG.min_punctuation_rate)
    mostly = garbage + "，" * 100  # a handful of commas is not prose either
    assert check(mostly).reason == PUNCTUATION_RATE
    assert check(garbage, cfg=FilterConfig(max_mean_line_length=0.0)) is None  # 0: the check is off
    # with line structure the same characters are not judged by punctuation (other filters apply)
    lined = "\n".join(garbage[i : i + 40] for i in range(0, len(garbage), 40))
    assert check(lined) is None


def test_minified_and_binary_dumps_on_one_line_are_still_filtered():
    minified = "function(a,b){return a.map(function(c){return c*2+b})};var x=[1,2,3];" * 400
    assert check(minified).reason == HAN_RATIO
    rng = _rng(9)
    cjk = "".join(chr(int(c)) for c in rng.integers(0x4E00, 0x9FA5, 30_000))  # binary read as GB18030
    assert check(cjk).reason == COMMON_HAN_RATIO
    stuffed = "小说下载，" * 6000  # keyword stuffing on one line, punctuated
    assert check(stuffed).reason == TOP_NGRAM_REPETITION


def test_punctuation_rate_counts_chinese_and_ascii_marks():
    from transforms.cleaning.filters import _codepoints_without_space

    assert punctuation_rate(_codepoints_without_space("他说：“好。” a, b")) == 5 / 10  # ：“。”,
    assert punctuation_rate(_codepoints_without_space("")) == 0.0


def test_dup_line_fraction_measure_and_filter():
    assert dup_line_fraction(["a", "b", "a", "a"]) == 0.5
    lines = prose(20).split("\n")
    text = "\n".join(lines + lines[:10] * 2)
    v = check(text)
    assert v.reason == DUP_LINE_FRACTION
    assert v.value == pytest.approx(20 / 40)


def test_top_ngram_fraction_exact():
    text = "哈哈" * 50 + "他来了"
    # most frequent 2-gram: 哈哈 (49 overlapping + ... ) counted directly:
    grams = [text[i : i + 2] for i in range(len(text) - 1)]
    top = max(grams.count(g) for g in set(grams))
    assert top_ngram_fraction(text, 2) == pytest.approx(min(1.0, 2 * top / len(text)))
    assert top_ngram_fraction("一二三四五六七八九十", 4) == pytest.approx(4 / 10)


def test_repeated_phrase_without_newlines_top_ngram():
    text = "\n".join(["好好学习天天向上，" * 60 + "他说。"] + prose(2).split("\n"))
    v = check(text)
    assert v.reason == TOP_NGRAM_REPETITION
    # 2-grams cover 2 x 60 / ~700 characters (under 0.256), 3-grams 3 x 60 / ~700 (over 0.201)
    assert v.threshold == 0.201
    assert v.value == pytest.approx(top_ngram_fraction(text, 3)) and v.value > 0.201


def test_cleaned_result_of_traditional_drop_is_reported():
    c = Cleaner(CleanConfig(traditional="drop"))
    raw = "我們說這個國家的歷史很長，後來他們都來了。" * 10
    v = quality_check(raw, c.clean(raw), CFG)
    assert v.reason == "traditional" and v.value > v.threshold


# ---- generated junk documents, through the real cleaner ------------------------------------------------


def _generated_junk() -> dict[str, str]:
    rng = _rng(7)
    body = prose(3, seed=3).split("\n")
    repeated = "\n".join(["欢迎光临本站，精彩内容天天更新！", "点击这里查看更多内容。"] * 60 + body)
    ads = "\n".join(
        [
            "本书来自www.xxx.com免费txt小说下载站",
            "手机用户请访问m.xxx.com阅读，更优质的阅读体验。",
            "最新章节请到笔趣阁www.biquge.com",
            "天才一秒记住本站地址：www.xxx.com",
            "求月票！求收藏！求推荐票！",
            "上一章 | 目录 | 下一章",
        ]
        * 4
    )
    symbols = "".join(chr(int(c)) for c in rng.integers(0x21, 0x7F, 3000))
    random_mixed = "\n".join(symbols[i : i + 60] for i in range(0, len(symbols), 60))
    han = "".join(chr(int(c)) for c in rng.integers(0x4E00, 0x9FA5, 6000))
    random_han = "\n".join(han[i : i + 40] + "。" for i in range(0, len(han), 40))  # lines, punctuation: prose-shaped
    return {
        "repeated_lines": repeated,
        "ad_only": ads,
        "random_ascii": random_mixed,
        "random_han": random_han,
        "random_han_one_line": han * 2,
    }


@pytest.mark.parametrize(
    ("name", "reasons"),
    [
        ("repeated_lines", {DUP_LINE_FRACTION}),
        ("ad_only", {MIN_LENGTH, REMOVED_RATIO}),  # the cleaner removes every ad line
        ("random_ascii", {HAN_RATIO}),
        ("random_han", {COMMON_HAN_RATIO}),
        ("random_han_one_line", {COMMON_HAN_RATIO, MEAN_LINE_LENGTH}),
    ],
)
def test_generated_junk_is_filtered(name, reasons):
    cleaner = Cleaner(CleanConfig())
    raw = _generated_junk()[name]
    v = quality_check(raw, cleaner.clean(raw), CFG)
    assert v is not None and v.reason in reasons, (name, v)
    assert v.value != v.threshold


def test_generated_prose_through_the_cleaner_is_kept():
    cleaner = Cleaner(CleanConfig())
    raw = "\u3000\u3000" + prose(40, seed=9).replace("\n", "\n\n\u3000\u3000")
    assert quality_check(raw, cleaner.clean(raw), CFG) is None


def test_filters_are_a_list_of_objects_in_the_order_of_their_reasons():
    from transforms.cleaning.filters import REASONS, Doc, cleaning_filters, first_failure, quality_filters

    filters = cleaning_filters(CleanConfig(traditional="drop")) + quality_filters(CFG)
    assert [f.name for f in filters] == list(REASONS)
    assert [f.after_rule for f in filters] == ["traditional"] + [None] * (len(REASONS) - 1)
    assert cleaning_filters(CleanConfig()) == [] and cleaning_filters(CleanConfig(traditional="keep")) == []
    assert first_failure(filters, Doc("他来了。", "他来了。")) == (MIN_LENGTH, 4.0, 100.0)
    # 7 of 20 Han characters would change under t2s: the traditional filter fires first, on its own measure
    assert first_failure(filters, Doc("", "他" * 20, {"traditional": 7})) == ("traditional", 7 / 20, 0.1)
