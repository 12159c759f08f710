"""Cleaning and filtering the real novels in ../shared/corpus (skipped when the folder is absent).

All 78 novels and the 7 second editions are cleaned once per module (about half a minute on one core).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import regex

from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig, FilterConfig
from transforms.cleaning.filters import CleanResult, quality_check
from transforms.cleaning.headings import is_chapter_heading
from transforms.ingest.encoding import decode_bytes

pytestmark = pytest.mark.shared_corpus

# Independent detectors of what must not survive cleaning (not the cleaner's own patterns).
FORBIDDEN = {
    "BOM": regex.compile("\ufeff"),
    "U+FFFD": regex.compile("\ufffd"),
    "private-use": regex.compile(r"\p{Co}"),
    "URL": regex.compile(r"(?i)https?://|\bwww\.|[a-z0-9-]+\.(?:com|net|org|cn)\b"),
    "page marker": regex.compile(r"(?i)-{2,}\s*page\s*\d+|^\s*page\s*\d+\s*$|^\s*第\s*\d+\s*页\s*$", regex.M),
    "HTML entity": regex.compile(r"&(?:[a-zA-Z]{2,8}|#\d{2,7}|#x[0-9a-fA-F]{2,6});"),
    "HTML tag": regex.compile(r"</?(?:a|p|br|div|span|script)\b[^>]*>"),
}
CJK_PUNCT = np.array([ord(c) for c in "，。！？；：、“”‘’（）《》…—"], dtype=np.uint32)
# Han ranges: URO, Ext A, compatibility ideographs, the supplementary planes' ideographs.
HAN_RANGES = ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF), (0x20000, 0x3FFFF))


def _read(path: Path) -> str:
    return decode_bytes(path.read_bytes()).text


@pytest.fixture(scope="module")
def corpus(shared_corpus: Path) -> dict[str, tuple[str, CleanResult]]:
    """name -> (raw text, clean result) for every novel and every second edition."""
    cleaner = Cleaner(CleanConfig())
    out = {}
    for path in sorted((shared_corpus / "novels").glob("*.txt")) + sorted((shared_corpus / "editions").glob("*.txt")):
        raw = _read(path)
        out[f"{path.parent.name}/{path.name}"] = (raw, cleaner.clean(raw))
    return out


def test_corpus_is_complete(corpus):
    assert sum(name.startswith("novels/") for name in corpus) == 78
    assert sum(name.startswith("editions/") for name in corpus) == 7


def test_cleaned_text_has_no_junk(corpus):
    found = {
        (name, what): len(pattern.findall(result.text))
        for name, (_, result) in corpus.items()
        for what, pattern in FORBIDDEN.items()
        if pattern.search(result.text)
    }
    assert found == {}


def test_the_raw_corpus_did_have_junk(corpus):
    """Guards the test above against vacuity: the raw files hold BOMs, private-use glyphs and entities."""
    raw_hits = {what: sum(bool(p.search(raw)) for raw, _ in corpus.values()) for what, p in FORBIDDEN.items()}
    assert raw_hits["private-use"] >= 10 and raw_hits["HTML entity"] >= 10


def _punct_per_han(text: str) -> float:
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    han = sum(int(np.count_nonzero((cps >= lo) & (cps <= hi))) for lo, hi in HAN_RANGES)
    return int(np.count_nonzero(np.isin(cps, CJK_PUNCT))) / han


def test_chinese_punctuation_density_is_kept(corpus):
    worst = {}
    for name, (raw, result) in corpus.items():
        before, after = _punct_per_han(raw), _punct_per_han(result.text)
        if after < 0.99 * before:
            worst[name] = (before, after)
    assert worst == {}


def test_chapter_headings_survive_on_their_own_lines(corpus):
    lost = {}
    for name, (raw, result) in corpus.items():
        before = sum(is_chapter_heading(line) for line in raw.split("\n"))
        after = sum(is_chapter_heading(line) for line in result.text.split("\n"))
        if after < before:
            lost[name] = (before, after)
    assert lost == {}
    assert sum(is_chapter_heading(line) for line in corpus["novels/三国演义.txt"][1].text.split("\n")) >= 120


def _shingles(text: str, n: int = 5) -> np.ndarray:
    """Distinct character n-grams of `text` as 64-bit hashes (exact Jaccard up to negligible collisions)."""
    cps = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    m = len(cps) - n + 1
    key = cps[:m] * np.uint64(0x9E3779B97F4A7C15)
    for k in range(1, n):
        key = (key ^ cps[k : k + m]) * np.uint64(0x100000001B3)
    key.sort()  # sort + neighbour compare: numpy 2.x's np.unique is ~10x slower on uint64
    return key[np.concatenate(([True], key[1:] != key[:-1]))]


def _jaccard(a: str, b: str) -> float:
    sa, sb = _shingles(a), _shingles(b)
    inter = len(np.intersect1d(sa, sb, assume_unique=True))
    return inter / (len(sa) + len(sb) - inter)


def test_jaccard_helper_matches_python_sets():
    a, b = "天下大势，分久必合，合久必分。周末七国分争", "天下大势，合久必分，分久必合。周末七国纷争"
    sets = [{t[i : i + 5] for i in range(len(t) - 4)} for t in (a, b)]
    assert _jaccard(a, b) == pytest.approx(len(sets[0] & sets[1]) / len(sets[0] | sets[1]))


def test_editions_are_closer_after_cleaning(corpus):
    """Cleaning removes noise, not text: each second edition's 5-gram Jaccard with its novel goes up."""
    pairs = [name for name in corpus if name.startswith("editions/")]
    assert len(pairs) == 7
    worse = {}
    for edition in pairs:
        novel = "novels/" + edition.split("-", 2)[2]
        raw_a, clean_a = corpus[novel]
        raw_b, clean_b = corpus[edition]
        before, after = _jaccard(raw_a, raw_b), _jaccard(clean_a.text, clean_b.text)
        if not after > before:
            worse[edition] = (before, after)
    assert worse == {}


def test_default_filters_keep_every_novel(corpus):
    cfg = FilterConfig()
    filtered = {
        name: quality_check(raw, result, cfg)
        for name, (raw, result) in corpus.items()
        if name.startswith("novels/")
    }
    assert {name: v for name, v in filtered.items() if v is not None} == {}
    assert len(filtered) == 78


def test_cleaning_removes_little_of_real_novels(corpus):
    for name, (raw, result) in corpus.items():
        nonspace_before = len(regex.sub(r"\s", "", raw))
        nonspace_after = len(regex.sub(r"\s", "", result.text))
        assert nonspace_after >= 0.95 * nonspace_before, name


def test_junk_rules_leave_real_prose_alone(corpus):
    """The novels hold no URLs, e-mails, ads or HTML markup (checked by hand: no www, ://, @, <tag>, ad words):
    those rules (credits too: no 整理校对/首发 sentences) must find nothing there, or they are eating prose."""
    fired = {
        (name, rule): result.hits[rule]
        for name, (raw, result) in corpus.items()
        for rule in ("urls", "emails", "watermarks", "credits")
        if result.hits.get(rule)
    }
    assert fired == {}
    for name, (raw, _) in corpus.items():
        assert "www" not in raw.lower() and "://" not in raw and "@" not in raw, name
