"""Generated Chinese prose for the decontamination tests: novels, stories and their planted variants.

Text is drawn from the common Han characters (GB2312 level 1 + Big5 level 1, simplified ones) in
clauses and paragraphs, so two generated texts share no 13-character run by chance.
"""

from __future__ import annotations

import random

import opencc

from transforms.charsets import COMMON_HAN

_T2S = opencc.OpenCC("t2s")
_CHARS = sorted(c for c in COMMON_HAN if "\u4e00" <= c <= "\u9fff" and _T2S.convert(c) == c)[:2500]


def prose(rng: random.Random, paragraphs: int, min_chars: int = 40, max_chars: int = 160) -> list[str]:
    """`paragraphs` paragraphs of clauses ending in ，。！？ and, now and then, a quoted utterance."""
    out = []
    for _ in range(paragraphs):
        size, para = rng.randint(min_chars, max_chars), []
        while sum(map(len, para)) < size:
            clause = "".join(rng.choice(_CHARS) for _ in range(rng.randint(4, 12)))
            para.append(clause + rng.choice("，，，。。！？"))
        text = "".join(para)
        out.append(text[:-1] + "。" if text[-1] == "，" else text)
    return out


def plant(novel: list[str], story: list[str], at: int, sep: str = "\n") -> tuple[str, str]:
    """(novel text, novel with `story`'s paragraphs inserted before paragraph `at`), both joined by `sep`."""
    return sep.join(novel), sep.join(novel[:at] + story + novel[at:])


def ascii_punctuation(text: str) -> str:
    return text.translate(str.maketrans("，。！？；：“”", ",.!?;:\"\""))


def hard_wrap(text: str, width: int) -> str:
    return "\n".join(text[i:i + width] for i in range(0, len(text), width))


def traditional(text: str) -> str:
    return opencc.OpenCC("s2t").convert(text)


def edit(text: str, rng: random.Random, count: int) -> str:
    """`text` with `count` Han characters replaced by other common ones."""
    chars = list(text)
    for i in rng.sample([i for i, c in enumerate(chars) if c in COMMON_HAN], count):
        chars[i] = rng.choice([c for c in _CHARS if c != chars[i]])
    return "".join(chars)
