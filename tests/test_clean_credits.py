"""Credit and ad sentences ([credits] in patterns.toml): one test per form, where sites put them (a line
at the start or end, between chapters, the tail of a novel scraped as one line), and the prose they
must leave alone."""

from __future__ import annotations

import argparse

import pytest

from pipelines.cli import clean as clean_cmd
from transforms.cleaning.junk import strip_credits
from transforms.cleaning.patterns import load_patterns

PATTERNS = load_patterns()
PROSE = "他们走进了院子，看见满地都是落叶和残花。"
HEADING = "第二回 张翼德怒鞭督邮"


def _removed_everywhere(credit: str) -> None:
    """`credit` goes as the first line, the last line, a line between chapters, and a one-line tail."""
    cases = {
        f"{credit}\n{PROSE}\n": f"{PROSE}\n",
        f"{PROSE}\n{credit}": f"{PROSE}\n",
        f"{PROSE}\n{credit}\n{HEADING}\n{PROSE}": f"{PROSE}\n{HEADING}\n{PROSE}",
        f"{PROSE}{credit}": PROSE,  # the end of a novel scraped as one line
        f"{PROSE}{credit}。{PROSE}": PROSE + PROSE,  # between two sentences of that line
    }
    for text, expected in cases.items():
        out, hits = strip_credits(text, PATTERNS)
        assert (out, hits) == (expected, 1), text


@pytest.mark.parametrize("credit", ["某某书屋：整理校对", "龙腾小说网：扫描、校对", "幻想时代：录入排版"])
def test_site_credit_form(credit):
    _removed_everywhere(credit)


@pytest.mark.parametrize("credit", ["本书由某某网友整理", "本电子书由幻想时代扫描制作，仅供交流", "本作品由书友上传"])
def test_produced_by_form(credit):
    _removed_everywhere(credit)


@pytest.mark.parametrize("credit", ["更多精彩请访问某某书屋", "更多好书尽在某某小说网", "更多免费小说请到某某阅读"])
def test_more_at_form(credit):
    _removed_everywhere(credit)


@pytest.mark.parametrize("credit", ["本书首发于起点中文网，请支持正版", "某某文学网独家首发", "首发网站：某某阅读"])
def test_first_published_form(credit):
    _removed_everywhere(credit)


def test_chapter_unfinished_form():
    _removed_everywhere("本章未完，请点击下一页继续阅读")
    _removed_everywhere("（本章未完，请翻页）")
    out, hits = strip_credits(f"他走了。（本章未完，请点击下一页继续阅读）{PROSE}", PATTERNS)
    assert (out, hits) == (f"他走了。{PROSE}", 1)  # a bracketed form ends at its bracket


@pytest.mark.parametrize(
    "prose",
    [
        "他吩咐：整理行装。",  # a colon then one credit verb, inside a longer sentence
        "本书由三部分组成。",  # 本书由 without a credit verb
        "更多的人请到这里来。",  # 更多 not followed by a site word
        "中国女排首发阵容很强。",  # 首发 of a team
        "他说这本书由他来整理，大家不必费心。",  # not at a sentence start
    ],
)
def test_prose_near_misses_stay(prose):
    text = f"{PROSE}{prose}\n{prose}\n"
    assert strip_credits(text, PATTERNS) == (text, 0)


def test_credit_words_inside_a_longer_sentence_stay():
    text = f"{PROSE}某某书屋：整理校对的人都走了，院子里静下来。"
    assert strip_credits(text, PATTERNS) == (text, 0)


def test_clean_diff_shows_the_credits_rule(tmp_path, capsys):
    path = tmp_path / "novel.txt"
    path.write_text(f"{HEADING}\n{PROSE * 8}\n某某书屋：整理校对\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    clean_cmd.register(parser.add_subparsers())
    args = parser.parse_args(["clean", str(path), "--diff"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "=== credits: 1 hits, 10 chars removed" in out
    assert "-某某书屋：整理校对" in out
