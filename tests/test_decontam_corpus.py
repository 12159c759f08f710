"""Decontamination on real novels of ../shared/corpus (skipped without it): real stories planted into a
real novel, cleaned like a build cleans, are removed and nothing else is; unrelated windows remove nothing."""

from __future__ import annotations

import random

import pytest

from tests.decontam_texts import ascii_punctuation, edit, hard_wrap, traditional
from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig
from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.index import build_index
from transforms.decontam.keys import item_key
from transforms.decontam.match import decontaminate
from transforms.dedupe.keytext import make_converter

CFG = DecontaminateConfig()


@pytest.fixture(scope="module")
def novels(shared_corpus):
    cleaner = Cleaner(CleanConfig())
    read = {}
    for name in ("三国演义", "二月", "为奴隶的母亲"):
        raw = (shared_corpus / "novels" / f"{name}.txt").read_bytes().decode("utf-8-sig", errors="replace")
        read[name] = cleaner.clean(raw).text
    return read


def windows(text: str, count: int, rng: random.Random) -> list[str]:
    """`count` runs of 2-4 consecutive paragraphs (at least 80 characters) of `text`."""
    paras = [p for p in text.split("\n") if len(p.strip()) >= 30]
    out = []
    while len(out) < count:
        i = rng.randrange(len(paras) - 4)
        out.append("\n".join(paras[i:i + rng.randint(2, 4)]))
    return out


def index_of(stories, conv):
    return build_index([("eval.jsonl", i, item_key([s], conv, CFG.ngram, 2 * CFG.ngram))
                        for i, s in enumerate(stories)], CFG.ngram)


VARIANTS = (
    lambda s, rng: s,
    lambda s, rng: ascii_punctuation(s),
    lambda s, rng: hard_wrap(s.replace("\n", ""), rng.randint(20, 40)),
    lambda s, rng: traditional(s),
    lambda s, rng: edit(s, rng, 3),
)


def test_real_stories_planted_into_a_real_novel_go_and_the_novel_stays_byte_for_byte(novels):
    conv = make_converter()
    rng = random.Random(30)
    novel = novels["三国演义"]
    stories = windows(novels["二月"], 10, rng)
    index = index_of(stories, conv)
    sep = "\n\n" if "\n\n" in novel else "\n"
    cuts = [m for m in range(len(novel)) if novel.startswith(sep, m)][:: max(1, novel.count(sep) // 12)]
    for k, story in enumerate(stories):
        planted = VARIANTS[k % len(VARIANTS)](story, rng)
        at = cuts[k + 1] + len(sep)
        doc = novel[:at] + planted.replace("\n", sep) + sep + novel[at:]
        result = decontaminate(doc, index, CFG, conv)
        assert result.text == novel, f"story {k}"


def test_windows_of_an_unrelated_novel_remove_nothing(novels):
    conv = make_converter()
    stories = windows(novels["为奴隶的母亲"], 300, random.Random(1))
    index = index_of(stories, conv)
    for name in ("三国演义", "二月"):
        result = decontaminate(novels[name], index, CFG, conv)
        assert result.removals == (), name
