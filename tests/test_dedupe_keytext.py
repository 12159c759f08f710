"""Key text and exact hash: what edition noise they ignore and what they keep."""

import unicodedata

import pytest

from transforms.dedupe.keytext import exact_hash, exact_text, han_count, key_text, make_converter, nfkc


@pytest.fixture(scope="module")
def conv():
    return make_converter()


def test_key_text_keeps_only_letters_digits_and_han(conv):
    assert key_text("「天下，大勢！」\n  第 1 回…… ＡＢＣ abc", conv) == "天下大势第1回abcabc"


def test_key_text_is_the_same_for_traditional_and_simplified_editions(conv):
    trad = "話說天下大勢，分久必合，合久必分。周末七國分爭，並入於秦。"
    simp = "话说天下大势，分久必合，合久必分。周末七国分争，并入于秦。"
    assert key_text(trad, conv) == key_text(simp, conv)


def test_key_text_ignores_rewrapping_and_repunctuation(conv):
    a = "他说：“走吧。”\n于是二人出门去了。"
    b = "他说:\"走吧.\" 于是\n二人出门去了!"
    assert key_text(a, conv) == key_text(b, conv)


def test_exact_hash_ignores_only_whitespace_layout():
    base = "第一回\n话说天下大势。\n\n分久必合。"
    assert exact_hash(base) == exact_hash("  第一回 \n\n\n话说天下大势。\n分久必合。\n")
    assert exact_hash(base) == exact_hash("第一回\n话说天下大势。\n分久必合。")
    assert exact_hash(base) != exact_hash("第一回\n话说天下大势！\n分久必合。")
    assert exact_hash(base) != exact_hash("第一回 话说天下大势。\n分久必合。")  # joined lines differ
    assert exact_text("Ａ  Ｂ") == "A B"  # NFKC, whitespace runs collapsed


def test_han_count_counts_cjk_ideographs_only():
    text = "abc，天地玄黄。123 宇宙\U00020000"
    expected = sum(1 for ch in text if unicodedata.name(ch, "").startswith("CJK UNIFIED IDEOGRAPH"))
    assert han_count(text) == expected == 7


def test_nfkc_equals_the_standard_library_on_adversarial_text():
    import random

    # wide forms that are replaced first, and what they combine with: halfwidth katakana + halfwidth
    # voiced marks (ｶﾞ -> ガ), kana + combining marks, Latin + accents, Hangul jamo, ligatures, line breaks
    pool = ([chr(c) for c in range(0xFF00, 0xFFF0)] + ["\u3000", "\u2026", "\n", "\n", " "]
            + list("かカｶﾊﾟﾞ\u3099\u309a\u0301\u0308\u0327AaeoÅﬁ①㍿\u1100\u1161\u11a8가本章，。")
            + [chr(c) for c in range(0x4E00, 0x4E10)]
            # astral characters (UTF-16 surrogate pairs, one of them compatibility: U+1D400 -> A), a lone surrogate
            + ["\U00020000", "\U0001D400", "\U0002F800", "\udc00"])
    rng = random.Random(7)
    for _ in range(3000):
        text = "".join(rng.choice(pool) for _ in range(rng.randint(0, 40)))
        assert nfkc(text) == unicodedata.normalize("NFKC", text), ascii(text)
    assert nfkc("ｶﾞ，ｗ") == "ガ,w" and nfkc("本章") == "本章"
