"""Unit tests of the normalization rules: each with cases it must change and prose it must not touch."""

from __future__ import annotations

import sys
import unicodedata

import pytest

from transforms.cleaning import normalize

PROSE = "他说：“你好……”她笑了——然后走了。1932年3月，价钱3.5元，12:30到。Hello, world."


def test_nfc_composes_and_counts():
    decomposed = "cafe\u0301 和 e\u0301"
    out, hits = normalize.nfc(decomposed)
    assert out == unicodedata.normalize("NFC", decomposed)
    assert out == "café 和 é"
    assert hits == 2


def test_nfc_leaves_normalized_text_alone():
    assert normalize.nfc(PROSE) == (PROSE, 0)


def test_strip_invisible_removes_bom_zero_width_controls_and_fixes_line_ends():
    text = "\ufeff第一行\r\n第\u200b二\u200d行\r第三\x07行\u2028第四\u00ad行\ufe0f"
    out, hits = normalize.strip_invisible(text)
    assert out == "第一行\n第二行\n第三行\n第四行"
    assert hits == 9  # BOM, ZWSP, ZWJ, BEL, SHY, VS16 and the CRLF, CR, U+2028 line ends
    assert "\t" in normalize.strip_invisible("a\tb")[0]


def test_strip_invisible_keeps_prose():
    assert normalize.strip_invisible(PROSE) == (PROSE, 0)


def test_invisible_classes_cover_every_format_and_control_character():
    """Derived from unicodedata: every Cc (but tab/newline/CR/NEL, which are line handling) and Cf is removed."""
    missing = [
        hex(c)
        for c in range(sys.maxunicode + 1)
        if unicodedata.category(chr(c)) in ("Cc", "Cf")
        and chr(c) not in "\n\t\r\x85"
        and normalize.strip_invisible("a" + chr(c) + "b")[0] != "ab"
    ]
    assert missing == []


def test_invisible_classes_remove_nothing_visible():
    removed = [
        hex(c)
        for c in range(0x30000)
        if unicodedata.category(chr(c)) not in ("Cc", "Cf", "Cn", "Mn", "Zl", "Zp", "Cs")
        and normalize.strip_invisible("a" + chr(c) + "b")[0] == "ab"
    ]
    assert removed == []


def test_fullwidth_letters_digits_space_become_ascii_but_punctuation_stays():
    out, _ = normalize.fullwidth_ascii("我要到Ｎ进Ｋ学堂，１９３２年！　ｗｗｗ．ｂａｉｄｕ．ｃｏｍ？（好）")
    assert out == "我要到N进K学堂，1932年！ www.baidu.com？（好）"


def test_fullwidth_leaves_chinese_punctuation_and_fullstop_between_chinese():
    text = "他说：“好！”又问？（笑）；完。挥鲁阳之戈．难回日驭"
    assert normalize.fullwidth_ascii(text) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("他说:“你好!”", "他说：“你好！”"),
        ("你去哪?我不知道", "你去哪？我不知道"),
        ("好,走吧;来:", "好，走吧；来："),
        ("他走了.我留下", "他走了。我留下"),
        ("他(笑)说", "他（笑）说"),
        ("生于(1932年)春", "生于（1932年）春"),
    ],
)
def test_cjk_punctuation_widens_ascii_between_chinese(text, expected):
    out, hits = normalize.cjk_punctuation(text)
    assert out == expected
    assert hits >= 1


@pytest.mark.parametrize(
    "text",
    [
        "Hello, world. How are you?",
        "价钱3.5元，12:30到",
        "他说...然后",
        "见(abc)与 (Smith, 1990)",
        "www.example.com",
    ],
)
def test_cjk_punctuation_leaves_numbers_english_and_ellipses(text):
    assert normalize.cjk_punctuation(text) == (text, 0)


def test_fullstop_after_chinese_becomes_ideographic_full_stop():
    assert normalize.fullstop("挥鲁阳之戈．难回日驭．\n") == ("挥鲁阳之戈。难回日驭。\n", 2)


def test_fullstop_leaves_abbreviations_numbers_and_dot_runs():
    for text in ("m．f．是", "第3．5", "他说．．．", "1．5"):
        assert normalize.fullstop(text) == (text, 0)


def test_cjk_spaces_removed_next_to_chinese_kept_between_english_words():
    out, hits = normalize.cjk_spaces("忘却 了，我 用 Python 写 hello world 代码。“ 好 ”")
    assert out == "忘却了，我用Python写hello world代码。“好”"
    assert hits == 8  # every run but the one between "hello" and "world"


def test_cjk_spaces_keep_one_space_in_headings():
    out, _ = normalize.cjk_spaces("第一回  宴桃园豪杰三结义\u3000斩黄巾英雄首立功\n话说 天下")
    assert out == "第一回 宴桃园豪杰三结义 斩黄巾英雄首立功\n话说天下"


def test_cjk_spaces_keep_one_space_in_numbered_section_titles():
    """沉沦 titles its sections "五 月光", "六 崖上": without the space they read as prose (五月光)."""
    out, hits = normalize.cjk_spaces("五 月光\n他 说\n六\u3000\u3000崖上\n一 个人走了。\n")
    assert out == "五 月光\n他说\n六 崖上\n一个人走了。\n"
    assert hits == 3


def test_cjk_spaces_do_not_touch_indentation_or_line_ends():
    text = "  他来了\n\t她走了"
    assert normalize.cjk_spaces(text) == (text, 0)


def test_strip_indentation():
    out, hits = normalize.strip_indentation("\u3000\u3000他来了。  \n    她走了。\n\t“好。”")
    assert out == "他来了。\n她走了。\n“好。”"
    assert hits == 4


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("collapse", "甲\n\n乙\n丙\n\n丁"), ("remove", "甲\n乙\n丙\n丁"), ("keep", "\n\n甲\n\n\n\n乙\n丙\n\n丁\n\n")],
)
def test_blank_lines_modes(mode, expected):
    assert normalize.blank_lines("\n\n甲\n\n\n\n乙\n丙\n\n丁\n\n", mode)[0] == expected


def test_prose_survives_every_normalization_rule():
    text = PROSE
    for rule in (
        normalize.nfc,
        normalize.strip_invisible,
        normalize.fullwidth_ascii,
        normalize.cjk_punctuation,
        normalize.fullstop,
        normalize.cjk_spaces,
        normalize.strip_indentation,
    ):
        assert rule(text)[0] == text, rule.__name__
