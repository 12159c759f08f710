"""Unit tests of the OCR/glyph debris rules: each removes its debris and leaves real prose alone."""

from __future__ import annotations

import pytest

from transforms.cleaning import debris

PROSE = "他说：“你好……”她笑了——然后走了。1932年3月，价钱3.5元，第[一]卷，12:30到。“你去哪?”他问。a*b"


def test_private_use_removed():
    out, hits = debris.private_use("正与慕\ue001容\U000f0001皝交战")
    assert out == "正与慕容皝交战"
    assert hits == 2


def test_replacement_char_removed():
    assert debris.replacement_char("乱码\ufffd\ufffd在此") == ("乱码在此", 1)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("狮驼王、□【左“反犬”右“禺”】狨王", "狮驼王、狨王"),
        ("美猴王正【□：左“目”右“见”；】看", "美猴王正看"),
        ("《二百□（形似“册”，四十）孝图》", "《二百孝图》"),
        ("古□亭口", "古亭口"),
        ("□□□女士收", "女士收"),
        ("〓字", "字"),
        ("⿰亻尔好", "好"),
    ],
)
def test_glyph_placeholders_and_descriptions_removed(text, expected):
    out, hits = debris.glyph_placeholder(text)
    assert out == expected
    assert hits >= 1


def test_glyph_rule_leaves_brackets_without_placeholder():
    text = "【第一回】他说“左右为难”"
    assert debris.glyph_placeholder(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("推倒?翻无数", "推倒翻无数"),
        ("单廷?、魏定国", "单廷、魏定国"),
        ("海??黎道", "海黎道"),
        ("骨殖。?在池子", "骨殖。在池子"),
    ],
)
def test_lost_character_question_marks_removed(text, expected):
    assert debris.lost_chars(text)[0] == expected


@pytest.mark.parametrize("text", ["你去哪?我不知道", "是吗?”", "真的吗?好吧", "何人?", "What?"])
def test_real_question_marks_kept(text):
    assert debris.lost_chars(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("恶，是何言[1]！是何言", "恶，是何言！是何言"),
        ("打茶围〔2〕去了", "打茶围去了"),
        ("［12］注文", "注文"),
        ("书里①，有", "书里，有"),
        ("见⑶及（注4）", "见及"),
    ],
)
def test_footnote_markers_removed(text, expected):
    assert debris.footnote_markers(text)[0] == expected


@pytest.mark.parametrize("text", ["第[一]卷", "价钱[约3元]", "[西游记 / 吴承恩 著]", "1932年3月", "(1)", "【1932年】"])
def test_footnote_rule_keeps_numbers_in_prose(text):
    assert debris.footnote_markers(text) == (text, 0)


def test_censor_masks_dropped_or_kept():
    text = "问渠无语最**。张布府**饮，＊＊＊之黑狱"
    assert debris.censor_masks(text, "drop") == ("问渠无语最。张布府饮，之黑狱", 3)
    assert debris.censor_masks(text, "keep") == (text, 0)


def test_censor_masks_leave_single_asterisks_and_ascii():
    for text in ("a*b", "2**10", "注*：见下", "**bold** text"):
        assert debris.censor_masks(text, "drop") == (text, 0)


def test_prose_survives_every_debris_rule():
    rules = (debris.private_use, debris.replacement_char, debris.glyph_placeholder, debris.lost_chars)
    for rule in rules + (debris.footnote_markers,):
        assert rule(PROSE) == (PROSE, 0), rule.__name__
    assert debris.censor_masks(PROSE, "drop") == (PROSE, 0)
