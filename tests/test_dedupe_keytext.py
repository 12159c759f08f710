"""Key text and exact hash: what edition noise they ignore and what they keep."""

import unicodedata

import pytest

from transforms.dedupe.keytext import exact_hash, exact_text, han_count, key_text, make_converter


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
