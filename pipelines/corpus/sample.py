"""`longlm sample-corpus`: a deterministic, generated, novel-like Chinese corpus with known flaws.

No downloaded text: sentences are assembled from a lexicon drawn (by seed) from the GB2312 level-1
characters, with chapter headings, narration, dialogue in “”, ellipses and dashes. Planted in it:
exact duplicates (same text, another file or format), near duplicates at known similarity (sentence
edits, punctuation noise, inserted site ads), far variants that must *not* merge, junk documents
the quality filters must drop, and dirty inputs (GB18030, Big5, UTF-16, BOM, CRLF, an empty file, a
binary file, malformed JSONL lines, a truncated gzip). The returned SampleTruth says which is which.
"""

from __future__ import annotations

import gzip
import io
import json
from dataclasses import dataclass, field

import numpy as np
from apache_beam.io.filesystems import FileSystems

from schemas.hashing import stable_hash
from transforms.atomic_files import write_atomically
from transforms.charsets import GB2312_LEVEL1

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
_VERBS = ["说道", "笑道", "叹道", "问道", "答道", "喝道", "低声道", "冷笑道"]
_LINKS = ["却说", "只见", "原来", "不料", "忽然", "正是", "当下", "次日", "于是", "话说", "那时", "后来"]
_NUMERALS = "一二三四五六七八九十"
_ADS = [
    "本书来自www.xiaoshuo{n}.com免费txt小说下载站",
    "手机用户请访问m.shuku{n}.net阅读最新章节",
    "更多精彩小说请访问 http://www.txt{n}.org",
]


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(stable_hash(repr((seed,) + parts), bits=64)))


def _numeral(n: int) -> str:
    if n <= 10:
        return _NUMERALS[n - 1]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _NUMERALS[tens - 1]) + "十" + (_NUMERALS[ones - 1] if ones else "")


class _Writer:
    """Generates novel text from a seeded lexicon."""

    def __init__(self, seed: int):
        rng = _rng(seed, "lexicon")
        chars = np.array(list(GB2312_LEVEL1))
        self.words = ["".join(rng.choice(chars, size=int(k))) for k in rng.choice([1, 2, 2, 2, 3, 4], size=4000)]
        self.names = [rng.choice(list(_SURNAMES)) + "".join(rng.choice(chars, size=2)) for _ in range(300)]

    def sentence(self, rng: np.random.Generator, names: list[str]) -> str:
        body = "".join(self.words[i] for i in rng.integers(0, len(self.words), size=int(rng.integers(4, 14))))
        kind = rng.random()
        if kind < 0.3:
            speech = "".join(self.words[i] for i in rng.integers(0, len(self.words), size=int(rng.integers(3, 10))))
            end = rng.choice(["！", "？", "。", "……"])
            return f"{rng.choice(names)}{rng.choice(_VERBS)}：“{speech}{end}”"
        if kind < 0.45:
            return f"{rng.choice(_LINKS)}{rng.choice(names)}{body}，{self.words[int(rng.integers(len(self.words)))]}——{body[:4]}。"
        return f"{rng.choice(names)}{body}，{''.join(self.words[i] for i in rng.integers(0, 4000, size=3))}。"

    def novel(self, rng: np.random.Generator, chapters: int) -> str:
        names = [self.names[i] for i in rng.integers(0, len(self.names), size=6)]
        out = []
        for c in range(1, chapters + 1):
            title = "".join(self.words[i] for i in rng.integers(0, len(self.words), size=3))
            out.append(f"第{_numeral(c)}章 {title}")
            for _ in range(int(rng.integers(8, 16))):
                out.append("　　" + "".join(self.sentence(rng, names) for _ in range(int(rng.integers(2, 6)))))
        return "\n".join(out) + "\n"


def key_text_jaccard(a: str, b: str, n: int = 5) -> float:
    """Exact character n-gram Jaccard over Han/letters/digits only (the ground truth's own measure)."""

    def grams(text: str) -> set[str]:
        t = "".join(ch for ch in text if ch.isalnum())
        return {t[i:i + n] for i in range(max(0, len(t) - n + 1))}

    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb) if ga or gb else 1.0


@dataclass
class SampleTruth:
    """What was planted. Documents are named "source" or "source#locator" (JSONL line / Parquet row)."""

    unique: list[str] = field(default_factory=list)
    exact_groups: list[list[str]] = field(default_factory=list)
    near_pairs: list[tuple[str, str, float]] = field(default_factory=list)  # (a, b, exact key-text Jaccard)
    far_pairs: list[tuple[str, str, float]] = field(default_factory=list)
    junk: list[str] = field(default_factory=list)
    bad_inputs: dict[str, str] = field(default_factory=dict)  # name -> expected reject reason
    texts: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        d = {k: v for k, v in self.__dict__.items() if k != "texts"}
        return json.dumps(d, ensure_ascii=False, indent=1, sort_keys=True)


def _edit_sentences(text: str, rng: np.random.Generator, writer: _Writer, rate: float) -> str:
    lines = text.split("\n")
    names = writer.names[:6]
    body = [i for i, line in enumerate(lines) if line.startswith("　　")]
    chosen = [i for i in body if rng.random() < rate] or [body[int(rng.integers(len(body)))]]
    for i in chosen:  # at least one edit, so a near duplicate never equals its original
        lines[i] = "　　" + writer.sentence(rng, names)
    return "\n".join(lines)


def _punctuation_noise(text: str, rng: np.random.Generator, n: int) -> str:
    ad = _ADS[int(rng.integers(len(_ADS)))].format(n=n)
    lines = text.replace("，", ", ").split("\n")
    lines.insert(len(lines) // 2, ad)
    return ad + "\n" + "\n".join(lines)


class _Planter:
    """Accumulates the corpus files and the truth about them, one kind of planted record at a time."""

    #: JSONL lines that must be rejected, inserted at these 1-based line numbers.
    BAD_JSONL = {2: ('{"id": "broken", "text": "未闭合的', "malformed_json"),
                 4: ('{"id": "number", "text": 42}', "text_not_string")}

    def __init__(self, seed: int):
        self.seed, self.writer = seed, _Writer(seed)
        self.truth, self.files = SampleTruth(), {}
        self.jsonl_texts: list[tuple[str, str]] = []
        self.parquet_rows: list[dict] = []

    def txt(self, name: str, text: str, encoding: str = "utf-8", crlf: bool = False) -> str:
        self.files[name] = (text.replace("\n", "\r\n") if crlf else text).encode(encoding)
        self.truth.texts[name] = text
        return name

    def originals(self, bases: list[str]) -> None:
        """Each base novel once: most as .txt (some CRLF), every 10th+3 in JSONL, every 10th+7 in Parquet."""
        for i, text in enumerate(bases):
            if i % 10 == 3:
                self.jsonl_texts.append((f"novel{i:03d}", text))
            elif i % 10 == 7:
                self.parquet_rows.append({"id": f"novel{i:03d}", "title": f"novel{i:03d}", "text": text})
                name = f"novels.parquet#row {len(self.parquet_rows)}"
                self.truth.unique.append(name)
                self.truth.texts[name] = text
            else:
                self.truth.unique.append(self.txt(f"novel{i:03d}.txt", text, crlf=(i % 7 == 5)))

    def encodings(self) -> None:
        w, seed, unique = self.writer, self.seed, self.truth.unique
        unique.append(self.txt("gb18030-novel.txt", w.novel(_rng(seed, "gb"), 3), "gb18030"))
        unique.append(self.txt("utf16-novel.txt", w.novel(_rng(seed, "u16"), 3), "utf-16"))
        unique.append(self.txt("bom-novel.txt", w.novel(_rng(seed, "bom"), 3), "utf-8-sig"))
        import opencc  # traditional text for the Big5 file

        trad = opencc.OpenCC("s2t").convert(w.novel(_rng(seed, "big5"), 3))
        trad = trad.encode("big5", errors="ignore").decode("big5")  # Big5 lacks some traditional forms
        unique.append(self.txt("big5-novel.txt", trad, "big5", crlf=True))

    def duplicates(self, bases: list[str]) -> None:
        """Exact copies (another .txt, a .txt.gz), near duplicates that must merge, far rewrites that must not."""
        for i in (0, 4):
            self.files[f"reupload-{i:03d}.txt.gz"] = gzip.compress(bases[i].encode(), mtime=0)
            copy = self.txt(f"copy-of-novel{i:03d}.txt", bases[i])
            self.truth.exact_groups.append([f"novel{i:03d}.txt", copy, f"reupload-{i:03d}.txt.gz"])
        for j, i in enumerate(range(1, len(bases), 5)):
            rng = _rng(self.seed, "near", i)
            if j % 2:
                variant = _punctuation_noise(_edit_sentences(bases[i], rng, self.writer, 0.02), rng, j)
            else:
                variant = _edit_sentences(bases[i], rng, self.writer, 0.03)
            near = self.txt(f"edition-{i:03d}.txt", variant)
            self.truth.near_pairs.append((f"novel{i:03d}.txt", near, key_text_jaccard(bases[i], variant)))
            far_text = _edit_sentences(bases[i], _rng(self.seed, "far", i), self.writer, 0.6)
            far = self.txt(f"rewrite-{i:03d}.txt", far_text)
            self.truth.far_pairs.append((f"novel{i:03d}.txt", far, key_text_jaccard(bases[i], far_text)))

    def junk(self) -> None:
        """Documents the quality filters must drop."""
        rng, junk = _rng(self.seed, "junk"), self.truth.junk
        junk.append(self.txt("junk-repeated.txt", "点击下载本站客户端，阅读更流畅。\n" * 200))
        junk.append(self.txt("junk-ads.txt", "\n".join(a.format(n=k) for k in range(30) for a in _ADS)))
        symbols = np.array(list("abcdefghijklmnopqrstuvwxyz0123456789#$%&*+=<>~^|"))
        junk.append(self.txt("junk-random.txt", "\n".join("".join(rng.choice(symbols, 60)) for _ in range(80))))
        junk.append(self.txt("junk-short.txt", "第一章\n完。\n"))

    def bad_inputs(self, some_text: str) -> None:
        """Dirty inputs ingest must reject, each with its reason; also writes the JSONL and Parquet files."""
        bad = self.truth.bad_inputs
        self.files["empty.txt"], bad["empty.txt"] = b"", "empty"
        noise = bytes(_rng(self.seed, "bin").integers(0, 256, size=4096, dtype=np.uint8))
        self.files["binary.txt"], bad["binary.txt"] = noise + b"\x00" * 64, "binary"
        whole = gzip.compress(some_text.encode(), mtime=0)
        self.files["truncated.txt.gz"], bad["truncated.txt.gz"] = whole[: len(whole) // 2], "truncated_gzip"
        good, pending = list(self.jsonl_texts), sorted(self.BAD_JSONL.items())
        lines: list[str] = []
        while good or pending:
            number = len(lines) + 1
            if pending and (pending[0][0] == number or not good):
                line, reason = pending.pop(0)[1]
                bad[f"novels.jsonl#line {number}"] = reason
            else:
                key, text = good.pop(0)
                line = json.dumps({"id": key, "title": key, "text": text}, ensure_ascii=False)
                self.truth.unique.append(f"novels.jsonl#line {number}")
                self.truth.texts[f"novels.jsonl#line {number}"] = text
            lines.append(line)
        self.files["novels.jsonl"] = ("\n".join(lines) + "\n").encode()
        self.files["novels.parquet"] = _parquet_bytes(self.parquet_rows)


def generate(docs: int = 60, seed: int = 7) -> tuple[dict[str, bytes], SampleTruth]:
    """Build the sample corpus in memory: (file name -> bytes, truth). Deterministic in (docs, seed)."""
    planter = _Planter(seed)
    bases = [planter.writer.novel(_rng(seed, "novel", i), chapters=int(_rng(seed, "len", i).integers(3, 7)))
             for i in range(max(8, docs))]
    planter.originals(bases)
    planter.encodings()
    planter.duplicates(bases)
    planter.junk()
    planter.bad_inputs(bases[1])
    return planter.files, planter.truth


def write_sample_corpus(directory: str, docs: int = 60, seed: int = 7) -> SampleTruth:
    """Generate the corpus and write its files under `directory` (any Beam FileSystems path)."""
    files, truth = generate(docs, seed)
    FileSystems.mkdirs(directory) if not FileSystems.exists(directory) else None
    for name, data in sorted(files.items()):
        write_atomically(FileSystems.join(directory, name), data)
    return truth


def _parquet_bytes(rows: list[dict]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buf)
    return buf.getvalue()
