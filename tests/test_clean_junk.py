"""Unit tests of the junk rules (HTML, entities, e-mails, URLs, watermarks) and the patterns file."""

from __future__ import annotations

import pytest

from transforms.cleaning import junk
from transforms.cleaning.patterns import load_patterns
from transforms.config_base import ConfigError

PATTERNS = load_patterns()
PROSE = "他说：“你好……”她笑了——然后走了。1932年3月，价钱3.5元，12:30到。他说“下一章”三个字时，手机响了。"


def test_html_tags_removed_and_block_tags_become_line_breaks():
    out, hits = junk.strip_html("<p>第一段<b>加粗</b></p><br/>第二段<script>var x=1;</script><!-- 注释 -->", PATTERNS)
    assert out == "\n第一段加粗\n\n第二段"
    assert hits == 7


def test_cloudflare_email_debris_removed():
    text = (
        '乞封慕?a class="__cf_email__" href="/cdn-cgi/l/email-protection" data-cfemail="fc21">'
        "[email&#160;protected]/*  */大将军"
    )
    assert junk.strip_html(text, PATTERNS)[0] == "乞封慕大将军"


def test_html_leaves_comparisons_and_book_titles():
    text = "若a<b且b>c，则读《红楼梦》。" + PROSE
    assert junk.strip_html(text, PATTERNS) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("沿着&times;&times;路", "沿着××路"),
        ("abr&eacute;musat", "abrémusat"),
        ("逢。&nbsp;古今", "逢。\u00a0古今"),
        ("逢。&nbsp&nbsp古今", "逢。\u00a0\u00a0古今"),
        ("a&#160;b&#x4e2d;", "a\u00a0b中"),
        ("未知&bogusentity;实体", "未知实体"),
    ],
)
def test_entities_decoded(text, expected):
    assert junk.decode_entities(text, PATTERNS)[0] == expected


def test_entities_leave_bare_ampersands():
    text = "张三&李四，AT&T，a && b"
    assert junk.decode_entities(text, PATTERNS) == (text, 0)


def test_emails_removed():
    out, hits = junk.strip_emails("来信请寄someone.name+tag@example.com.cn，谢谢", PATTERNS)
    assert out == "来信请寄，谢谢"
    assert hits == 1


def test_emails_leave_at_signs_in_prose():
    text = "他@了我一下，比分3@5"
    assert junk.strip_emails(text, PATTERNS) == (text, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("他说www.xxx.com道", "他说道"),
        ("欢迎访问（www.abc.net）阅读", "欢迎访问阅读"),
        ("见https://example.org/a/b?c=1#d即可", "见即可"),
        ("到m.abc.com看", "到看"),
        ("www。xxx。com更新", "更新"),
        ("www点abc点cc更新", "更新"),
    ],
)
def test_urls_removed(text, expected):
    out, hits = junk.strip_urls(text, PATTERNS)
    assert out == expected
    assert hits == 1


@pytest.mark.parametrize("text", [PROSE, "黎弗卡恩（j.h.ffiv）", "m.f.是美芬", "约3.5公里", "Mr.Smith来了", "i.e.就是"])
def test_urls_leave_prose_and_abbreviations(text):
    assert junk.strip_urls(text, PATTERNS) == (text, 0)


def test_watermark_sentences_removed_inline():
    text = "他走了。本书来自免费txt小说下载站更多更新免费电子书请关注\n她来了。天才一秒记住本站地址。"
    out, _ = junk.strip_watermarks(text, PATTERNS, max_line_chars=100, banner_lines=0)
    assert out == "他走了。\n她来了。"


def test_short_ad_lines_removed_whole():
    text = "第一段正文。\n手机用户请访问m.xxx.com阅读\n最新章节请到某某网\n第二段正文。\n上一章 | 目录 | 下一章\n求月票！"
    out, hits = junk.strip_watermarks(text, PATTERNS, max_line_chars=100, banner_lines=0)
    assert out == "第一段正文。\n第二段正文。\n"
    assert hits == 4


def test_dialogue_mentioning_navigation_words_survives():
    text = "“下一章呢？”他问。\n她拿起手机，说：“上一章写得好。”\n目录"
    assert junk.strip_watermarks(text, PATTERNS, max_line_chars=100, banner_lines=0) == (text, 0)


def test_long_prose_lines_with_ad_keywords_survive():
    long_line = "他翻到下一章，" + "读了很久" * 40 + "。"
    out, _ = junk.strip_watermarks(long_line, PATTERNS, max_line_chars=100, banner_lines=0)
    assert out == long_line


def test_licence_banner_removed_only_at_the_ends():
    body = "本书由三部分组成。\n" + "\n".join(f"第{i}段正文，他说了很多话。" for i in range(60))
    middle = "\n他说：本站的声明他不信，版权所有的电子书。\n"
    text = "本书由某某整理制作，版权归作者所有\n" + body + middle + body + "\n更多精彩txt电子书请到本站下载"
    out, hits = junk.strip_watermarks(text, PATTERNS, max_line_chars=100, banner_lines=20)
    assert "版权归作者所有" not in out and "电子书请到" not in out
    assert "本站的声明他不信" in out  # in the middle: prose, not a banner
    assert "本书由三部分组成" in out  # one keyword near the top: a preface, not a banner
    kept = [line for line in text.split("\n") if line]
    assert [line for line in out.split("\n") if line] == kept[1:-1]
    assert hits == 2


def test_prose_survives_junk_rules():
    for rule in (junk.strip_html, junk.decode_entities, junk.strip_emails, junk.strip_urls):
        assert rule(PROSE, PATTERNS)[0] == PROSE
    assert junk.strip_watermarks(PROSE, PATTERNS, 100, 20)[0] == PROSE


def test_custom_patterns_file_replaces_packaged_one(tmp_path):
    custom = tmp_path / "p.toml"
    custom.write_text("[watermarks]\ninline = ['某某书院提供']\n", encoding="utf-8")
    pats = load_patterns(str(custom))
    assert junk.strip_watermarks("他来了某某书院提供。", pats, 100, 20)[0] == "他来了。"
    assert pats.url == ()  # groups the file leaves out are empty
    assert junk.strip_urls("www.abc.com", pats) == ("www.abc.com", 0)


def test_invalid_patterns_file_is_a_config_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[urls]\npatterns = ['(unclosed']\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_patterns(str(bad))
    assert "patterns.urls" in e.value.key
    with pytest.raises(ConfigError):
        load_patterns(str(tmp_path / "missing.toml"))
    empty = tmp_path / "empty.toml"
    empty.write_text("[watermarks]\nline_patterns = ['\\s*']\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="empty text"):
        load_patterns(str(empty))
