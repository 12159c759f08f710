"""Matching and removal on generated novels: planted stories go, byte for byte nothing else does."""

from __future__ import annotations

import dataclasses
import pickle
import random

import numpy as np
import pytest

from tests.decontam_texts import ascii_punctuation, edit, hard_wrap, plant, prose, traditional
from transforms.config_base import ConfigError
from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.index import build_index
from transforms.decontam.keys import item_key, ngram_hashes, units
from transforms.decontam.markers import segments
from transforms.decontam.match import decontaminate
from transforms.dedupe.keytext import make_converter

CFG = DecontaminateConfig()


@pytest.fixture(scope="module")
def conv():
    return make_converter()


def index_of(items, conv, cfg=CFG):
    """EvalIndex of `items` (each a str, split at markers), recorded as eval.target lines."""
    entries = []
    for i, text in enumerate(items):
        key = item_key(segments(text), conv, cfg.ngram, 2 * cfg.ngram)
        if key.hashes.size >= cfg.min_item_ngrams:
            entries.append(("eval.target", i, key))
    return build_index(entries, cfg.ngram)


@pytest.fixture(scope="module")
def world():
    rng = random.Random(3)
    novel = prose(rng, 120)
    stories = [prose(rng, rng.randint(1, 4), 40, 120) for _ in range(6)]
    return rng, novel, stories


VARIANTS = {
    "plain": lambda s, rng: s,
    "ascii punctuation": lambda s, rng: ascii_punctuation(s),
    "hard wraps": lambda s, rng: hard_wrap(s.replace("\n", ""), 23),
    "traditional": lambda s, rng: traditional(s),
    "two edited characters": lambda s, rng: edit(s, rng, 2),
    "all at once": lambda s, rng: hard_wrap(ascii_punctuation(traditional(edit(s, rng, 3))).replace("\n", ""), 31),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("sep", ["\n", "\n\n"])
def test_planted_story_is_removed_and_the_rest_kept_byte_for_byte(world, conv, variant, sep):
    rng, novel, stories = world
    index = index_of(["".join(s) for s in stories], conv)
    for k, story in enumerate(stories):
        planted = VARIANTS[variant]("\n".join(story), random.Random(k)).split("\n")
        original, doc = plant(novel, planted, at=10 + 17 * k, sep=sep)
        result = decontaminate(doc, index, CFG, conv)
        assert result.text == original, f"story {k}"
        assert len(result.removals) == 1 and result.removals[0].item == k
        assert result.chars_removed == len(doc) - len(original)


def test_story_at_either_end_of_the_novel(world, conv):
    _, novel, stories = world
    index = index_of(["".join(stories[0])], conv)
    for doc, original in (("\n".join(stories[0] + novel), "\n".join(novel)),
                          ("\n\n".join(novel + stories[0]), "\n\n".join(novel))):
        result = decontaminate(doc, index, CFG, conv)
        assert result.text == original


def test_an_unplanted_novel_is_returned_unchanged(world, conv):
    _, novel, stories = world
    text = "\n".join(novel)
    result = decontaminate(text, index_of(["".join(s) for s in stories], conv), CFG, conv)
    assert result.text is text and result.removals == () and result.items_matched == ()


def test_a_document_that_is_the_story_loses_everything(world, conv):
    _, _, stories = world
    story = "\n".join(stories[3])
    result = decontaminate(story, index_of(["".join(stories[3])], conv), CFG, conv)
    assert result.text == "" and result.chars_removed == len(story)


def test_idioms_and_common_phrases_remove_nothing(world, conv):
    """An eval story made of idioms and phrases that also occur all over the novel matches nothing."""
    rng, novel, _ = world
    phrases = ["守株待兔", "画蛇添足", "欲知后事如何且听下回分解", "话说天下大势分久必合合久必分", "从此他们过上了幸福的生活"]
    phrases += [p[i:i + 14] for p in rng.sample(novel, 12) for i in (0,)]
    item = "，".join(phrases * 2) + "。"
    sprinkled = [p + "，" + para for p, para in zip(phrases * 20, novel)]
    doc = "\n".join(sprinkled)
    index = index_of([item], conv)
    assert len(index) == 1  # long enough to be an item: it is the rule, not the length, that keeps it out
    result = decontaminate(doc, index, CFG, conv)
    assert result.removals == ()


def test_outlines_and_keyword_lists_are_too_short_to_be_items(world, conv):
    _, novel, _ = world
    outline = "#".join(p[:10] for p in novel[:30])  # 30 phrases of the novel itself
    assert len(index_of([outline, "小狗<extra_id_1>公园<sep>玩耍"], conv)) == 0


def test_a_quotation_of_one_sentence_elsewhere_stays(world, conv):
    """The story is in the novel once; one of its sentences is quoted again far away: only the story goes."""
    _, novel, stories = world
    story = stories[2]
    quote = story[0][:25]
    body = novel[:60] + ["他念道：“" + quote + "”"] + novel[60:]
    original, doc = plant(body, story, at=5)
    result = decontaminate(doc, index_of(["".join(story)], conv), CFG, conv)
    assert result.text == original


def test_a_novel_without_line_breaks_loses_only_the_story_sentences(world, conv):
    _, novel, stories = world
    story = "".join(stories[1])
    doc_parts = novel[:40] + [story] + novel[40:80]
    doc = "".join(doc_parts)  # one line, ~8,000 characters
    result = decontaminate(doc, index_of([story], conv), CFG, conv)
    assert result.text == "".join(novel[:40] + novel[40:80])


def test_units_cover_the_text():
    text = "短行\n" + "长句。" * 1000 + "\n\n尾"
    spans = units(text, 100)
    assert spans[0] == (0, 2, 3) and spans[-1] == (len(text) - 1, len(text), len(text))
    assert "".join(text[s:t] for s, _, t in spans) == text
    assert max(e - s for s, e, _ in spans) <= 100


def test_index_is_independent_of_entry_order_and_lookup_is_exact(conv):
    rng = random.Random(5)
    items = ["".join(prose(rng, 2)) for _ in range(30)]
    keys = [("f", i, item_key([t], conv, 13, 26)) for i, t in enumerate(items)]
    a = build_index(keys, 13)
    b = build_index(list(reversed(keys)), 13)
    assert np.array_equal(a.hashes, b.hashes) and np.array_equal(a.items, b.items)
    probe = np.concatenate([keys[7][2].hashes[:5], np.array([1, 2, 3], dtype=np.uint64)])
    pos, its = a.lookup(probe)
    assert sorted(pos.tolist()) == [0, 1, 2, 3, 4] and set(its.tolist()) == {7}
    clone = pickle.loads(pickle.dumps(a))
    assert clone._bits is None and np.array_equal(clone.lookup(probe)[1], its)


def test_ngram_hashes_depend_on_order_and_length():
    key = np.frombuffer("甲乙丙丁戊己".encode("utf-32-le"), dtype=np.uint32)
    h = ngram_hashes(key, 4)
    assert h.size == 3 and len(set(h.tolist())) == 3
    assert ngram_hashes(key[:3], 4).size == 0
    assert ngram_hashes(key[::-1], 4)[0] != h[-1]


@pytest.mark.parametrize("field, value", [
    ("ngram", 2), ("min_coverage", 0.0), ("min_matched_ngrams", 100), ("text_fields", []), ("files", [""]),
    ("min_region_ngrams", 0), ("max_unit_chars", 10),
])
def test_bad_config_names_the_key(field, value):
    with pytest.raises(ConfigError, match=f"decontaminate.{field}"):
        dataclasses.replace(DecontaminateConfig(), **{field: value}).validate()


def test_a_story_glued_to_novel_lines_loses_only_its_own_sentences(world, conv):
    """Cleaning may join the story's first line to the novel line before it (and its last to the one after):
    the removal stops at sentence ends, so those novel sentences stay."""
    _, novel, stories = world
    story = next(s for s in stories if len(s) >= 3)
    doc = "\n".join(novel[:20] + [novel[20] + story[0]] + story[1:-1] + [story[-1] + novel[21]] + novel[22:])
    result = decontaminate(doc, index_of(["".join(story)], conv), CFG, conv)
    assert result.text == "\n".join(novel[:20] + [novel[20] + novel[21]] + novel[22:])


def test_the_document_key_is_dedupes_key_text(conv):
    from transforms.decontam.keys import text_key
    from transforms.dedupe.keytext import key_text

    text = "Ｈｅｌｌｏ，世界！這是「繁體」文字 ABC def 123。\n第二行…… ① ㈠"
    assert text_key(text, conv).tobytes().decode("utf-32-le") == key_text(text, conv)


def test_a_punctuation_only_sentence_after_the_story_is_novel_text(world, conv):
    """'“！' has no key characters but is not a blank line: it stays (only blank lines go with a story)."""
    _, novel, stories = world
    body = novel[:30] + ["“！" + novel[30]] + novel[31:]
    original, doc = plant(body, stories[1], at=30, sep="\n\n")
    assert decontaminate(doc, index_of(["".join(stories[1])], conv), CFG, conv).text == original


def test_a_wrapped_storys_last_punctuation_line_goes_with_it(world, conv):
    _, novel, stories = world
    story = "".join(stories[2])
    wrapped = hard_wrap(story[:-1], 29).split("\n") + ["。”"]
    original, doc = plant(novel, wrapped, at=40)
    assert decontaminate(doc, index_of([story], conv), CFG, conv).text == original
