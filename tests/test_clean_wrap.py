"""Unit tests of chapter-heading detection and the layout rules (page markers, separators, wraps)."""

from __future__ import annotations

import pytest

from transforms.cleaning import wrap
from transforms.cleaning.headings import heading_spans, is_chapter_heading
from transforms.cleaning.patterns import load_patterns

PATTERNS = load_patterns()


@pytest.mark.parametrize(
    "line",
    [
        "第一回　宴桃园豪杰三结义　斩黄巾英雄首立功",
        "第一回 宴桃园豪杰三结义 斩黄巾英雄首立功",
        "正文 第一回　宴桃园",
        "　　上卷 第一回　灵根育孕源流出　心性修持大道生",
        "第十二章",
        "第12章 回家",
        "第三卷：风起",
        "第一百二十回 甄士隐详说太虚情",
        "第五节",
        "第二集",
        "第一部 春",
        "楔子",
        "尾声",
        "序",
        "自序",
        "附录　陈光蕊赴任逢灾　江流僧复仇报本",
        "卷一",
        "Chapter 3",
        "五 月光",
        "六　崖上",
        "十二 翠峦清潭畔的石床",
    ],
)
def test_headings_detected(line):
    assert is_chapter_heading(line)


@pytest.mark.parametrize(
    "line",
    [
        "第三回合他就败了。",
        "第一回他就输了，",
        "第一次见面",
        "第二天早上，他来了",
        "序幕拉开了",
        "前言不搭后语",
        "后来他走了",
        "正文如下：他说",
        "“第一章写得好。”",
        "第一回　" + "很长的标题" * 12,
        "一 个人走了。",
        "三 两 个",
        "五月光",
        "",
    ],
)
def test_prose_is_not_a_heading(line):
    assert not is_chapter_heading(line)


def test_heading_spans_offsets():
    text = "序\n他说话了。\n第二章 出发\n走吧"
    spans = heading_spans(text)
    assert [text[a:b] for a, b in spans] == ["序", "第二章 出发"]


def test_explicit_page_markers_removed():
    text = "他走到门\n----- Page 12 -----\n口，回头看了一眼。\n第 13 页\n她笑了。\n- 14 -\n好。"
    out, hits = wrap.strip_page_markers(text, PATTERNS)
    assert out == "他走到门\n口，回头看了一眼。\n她笑了。\n好。"
    assert hits == 3


def test_inline_page_marker_removed():
    out, _ = wrap.strip_page_markers("他走到门-----Page 12-----口，回头看。", PATTERNS)
    assert out == "他走到门口，回头看。"


def test_bare_page_number_removed_only_inside_a_broken_sentence():
    text = "他走到门\n12\n口，回头看了一眼。\n\n1\n\n第一节的内容。"
    out, hits = wrap.strip_page_markers(text, PATTERNS)
    assert out == "他走到门\n口，回头看了一眼。\n\n1\n\n第一节的内容。"
    assert hits == 1


def test_page_rule_keeps_numbers_in_prose():
    text = "翻到第3页，他说。\n1932年，价钱12元。"
    assert wrap.strip_page_markers(text, PATTERNS) == (text, 0)


def test_separator_lines_become_blank_lines():
    text = "上回完。\n--------------------------\n※※※\n* * *\n◆◆◆\n==========    看本回评语\n下回开始。"
    out, hits = wrap.blank_separators(text)
    assert out == "上回完。\n\n\n\n\n看本回评语\n下回开始。"
    assert hits == 5


def test_separators_keep_dashes_and_ellipses_in_prose():
    text = "——调寄《临江仙》\n…………\n他说——好。\n“……”"
    assert wrap.blank_separators(text) == (text, 0)


def test_glued_heading_moved_to_its_own_line():
    out, hits = wrap.split_glued_headings("且听下回分解。第二回 张翼德怒鞭督邮\n他说：“到了第二回合，我就赢了。”")
    assert out == "且听下回分解。\n第二回 张翼德怒鞭督邮\n他说：“到了第二回合，我就赢了。”"
    assert hits == 1


def _wrapped(paragraph: str, width: int) -> str:
    return "\n".join(paragraph[i : i + width] for i in range(0, len(paragraph), width))


PARA1 = "却说那女娲氏炼石补天之时，于大荒山无稽崖炼成高十二丈、见方二十四丈大的顽石三万六千五百零一块。那娲皇只用了三万六千五百块，单单剩了一块未用，便弃在此山青埂峰下。谁知此石自经煅炼之后，灵性已通。"
PARA2 = "因见众石俱得补天，独自己无材不堪入选，遂自怨自叹，日夜悲号惭愧。一日，正当嗟悼之际，俄见一僧一道远远而来，生得骨格不凡，丰神迥别，说说笑笑来至峰下。"


def test_hard_wrapped_pdf_text_rejoined_into_paragraphs():
    text = "第一回　甄士隐梦幻识通灵\n　　" + _wrapped(PARA1, 36) + "\n　　" + _wrapped(PARA2, 36)
    out, hits = wrap.rejoin_wraps(text, min_chars=16)
    assert out == "第一回　甄士隐梦幻识通灵\n　　" + PARA1 + "\n　　" + PARA2
    assert hits == text.count("\n") - 2


def test_wrap_in_double_spaced_poem_rejoined():
    tail = "\n\n    ——调寄《临江仙》\n\n    " + PARA1 + "\n\n    " + PARA2
    text = "    青山依旧在，几度夕阳红。白发渔樵江渚上，惯\n\n    看秋月春风。一壶浊酒喜相逢。古今多少事，都付\n\n    笑谈中。" + tail
    out, hits = wrap.rejoin_wraps(text, min_chars=16)
    assert out == "    青山依旧在，几度夕阳红。白发渔樵江渚上，惯看秋月春风。一壶浊酒喜相逢。古今多少事，都付笑谈中。" + tail
    assert hits == 2


def test_wrap_in_double_spaced_text_ends_at_two_blank_lines_and_headings():
    """沉沦's end of one story: a credit line, two blank lines, the next story's title, its first section."""
    body = "".join(f"\n\n{p}" for p in (PARA1, PARA2) * 3)
    text = "原载小说集《沉沦》，一九二一年十月十五日上海泰东图书局初版\n\n\n南迁\n\n一 南方" + body
    assert wrap.rejoin_wraps(text, min_chars=16) == (text, 0)


def test_wrap_rule_keeps_paragraphs_dialogue_headings_and_short_titles():
    text = (
        "自序\n"
        "他说了出来，\n"
        "“什么时候了？”\n"
        "他们走进了院子，看见满地都是落叶和残花\n"
        "第二回 张翼德怒鞭督邮\n"
        "祖甲→廪辛→庚丁→武乙→太丁→帝乙→纣王\n\n"
        + PARA1
    )
    assert wrap.rejoin_wraps(text, min_chars=16) == (text, 0)


def test_wrap_joins_ascii_words_with_a_space():
    lines = _wrapped(PARA1 + PARA2, 36).split("\n")[:4] * 3
    lines[5] = lines[5][:-3] + "and"  # a hard-wrapped English title: "...and" / "the Sea..."
    lines[6] = "the Sea" + lines[6][7:]
    out, hits = wrap.rejoin_wraps("\n".join(lines), min_chars=16)
    assert out == "".join(lines[:6]) + " " + "".join(lines[6:])
    assert hits == len(lines) - 1


def test_wrap_width_detection():
    assert wrap.wrap_width(_wrapped((PARA1 + PARA2) * 2, 36).split("\n")) == 36
    paragraphs = [(PARA1 + PARA2)[:n] + "。" for n in range(20, 160, 9)]  # lengths all differ
    assert wrap.wrap_width(paragraphs) is None


def test_wrap_rejoins_a_very_long_paragraph_whole():
    """Thousands of wrapped lines of one paragraph become exactly that paragraph (the rule is linear
    now; its speed on a 100 MB paragraph is in bench/bench_longline.py)."""
    paragraph = (PARA1 + PARA2) * 400
    text = "第一回　甄士隐梦幻识通灵\n　　" + _wrapped(paragraph, 36) + "  \n\n" + PARA2
    out, hits = wrap.rejoin_wraps(text, min_chars=16)
    assert out == "第一回　甄士隐梦幻识通灵\n　　" + paragraph + "\n\n" + PARA2
    assert hits == _wrapped(paragraph, 36).count("\n")
