"""Benchmark: decontamination's false positives, recall and cost, on the real novels of ../shared/corpus.

Run as ``python -m bench.bench_decontam [--sweep]``. The novels are cleaned first (the stage sees cleaned
text) and split by file into two halves, A and B; the corpus that is decontaminated is half B.

* False positives, three synthetic eval sets none of which was copied into B:
  ``heldout`` — windows of 100-500 characters of half A's prose (other novels, same era and genres);
  ``markov`` — text of 100-500 characters from an order-2 character Markov chain trained on half A;
  ``idioms`` — items stringing together 8-15 clauses that occur in at least 5 different novels of the
  corpus, plus common idioms (every n-gram of such an item is common; nothing may be removed).
  Reported: items matched / items, documents changed, characters removed (all should be 0), and the share
  of the set's distinct n-grams found anywhere in the corpus: the chance-hit noise the rules must stay above.
* Recall: heldout stories planted as new paragraphs into novels of half B, each with a variant —
  ASCII punctuation, hard wraps every 20-40 characters, 1-5 edited characters, traditional script,
  all of these together, one character in 15 edited. Reported per variant: share of stories removed
  completely (every story character gone), share of story characters removed, and novel characters
  removed besides the story, split by an independent check: text sharing a run of 2n+ key characters
  with an item matched in that novel (a real copy: half B reprints stories of half A) or not
  (collateral: 0 means the rest of the novel is kept byte for byte).
* Cost: CPU seconds per MB of the pure function (key text + index lookup + removal) with a LOT-sized eval
  set, against the 1x build of ../shared from bench/README.md ("Scale": 47 MB in 33.0 s, in-process).

``--sweep`` repeats the figures over n-gram sizes and coverage thresholds (how the defaults were chosen);
``heavy_edits`` (one character in 15 edited) shows where each n stops finding a story.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import random
import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import regex

from transforms.cleaning.cleaner import Cleaner
from transforms.cleaning.config import CleanConfig
from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.index import build_index
from transforms.decontam.keys import item_key, ngram_hashes, unit_keys, units
from transforms.decontam.match import decontaminate
from transforms.dedupe.keytext import key_text, make_converter

NOVELS = Path(__file__).resolve().parents[1].parent / "shared" / "corpus" / "novels"
#: The 1x build of ../shared (47 MB) in 33.0 s, in-process (bench/README.md, "Scale"): what the cost is compared with.
BUILD_S_PER_MB = 33.0 / 47
IDIOMS = (
    "画蛇添足", "守株待兔", "亡羊补牢", "对牛弹琴", "井底之蛙", "狐假虎威", "掩耳盗铃", "自相矛盾", "刻舟求剑",
    "杯弓蛇影", "叶公好龙", "拔苗助长", "塞翁失马", "胸有成竹", "一鼓作气", "破釜沉舟", "卧薪尝胆", "完璧归赵",
    "纸上谈兵", "四面楚歌", "指鹿为马", "三顾茅庐", "草船借箭", "望梅止渴", "一箭双雕", "半途而废", "班门弄斧",
    "画龙点睛", "滥竽充数", "愚公移山", "精卫填海", "夸父追日", "八仙过海各显神通", "不入虎穴焉得虎子",
    "千里之行始于足下", "书山有路勤为径", "学海无涯苦作舟", "少壮不努力老大徒伤悲", "三人行必有我师焉",
    "天下大势分久必合合久必分", "欲知后事如何且听下回分解", "有朋自远方来不亦乐乎", "己所不欲勿施于人",
    "从前有一座山山里有一座庙", "很久很久以前", "从此他们过上了幸福的生活",
)
_CLAUSE = regex.compile(r"[^，。！？；：“”‘’「」『』、\s]{6,20}")


def load_halves(limit_mb: float | None = None) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Cleaned novels as (name, text), split by file into halves A and B (alternating in name order)."""
    cleaner = Cleaner(CleanConfig())
    a, b, total = [], [], 0
    for i, path in enumerate(sorted(NOVELS.glob("*.txt"))):
        raw = path.read_bytes().decode("utf-8-sig", errors="replace")
        text = cleaner.clean(raw).text
        (a if i % 2 == 0 else b).append((path.stem, text))
        total += len(raw.encode())
        if limit_mb and total > limit_mb * 1e6:
            break
    return a, b


def _paragraphs(texts, min_chars=40):
    return [p for _, t in texts for p in t.split("\n") if len(p) >= min_chars]


def heldout_items(texts, count: int, rng: random.Random) -> list[str]:
    """`count` windows of 100-500 characters of consecutive paragraphs of `texts`."""
    out = []
    docs = [t for _, t in texts if len(t) > 2000]
    while len(out) < count:
        t = rng.choice(docs)
        size = rng.randint(100, 500)
        start = t.find("\n", rng.randrange(0, len(t) - size)) + 1
        window = t[start:start + size]
        window = (window[: window.rfind("。") + 1] if "。" in window else window).strip()
        if len(window) >= 80:
            out.append(window)
    return out


def markov_items(texts, count: int, rng: random.Random) -> list[str]:
    """Order-2 character Markov text of 100-500 characters trained on ~3M characters of `texts`."""
    sample = "".join(t[:200_000] for _, t in texts)[:3_000_000]
    table: dict[str, list[str]] = defaultdict(list)
    for i in range(len(sample) - 2):
        table[sample[i:i + 2]].append(sample[i + 2])
    keys = [k for k in table if "\n" not in k]
    out = []
    while len(out) < count:
        state = rng.choice(keys)
        chars = list(state)
        size = rng.randint(100, 500)
        while len(chars) < size:
            nxt = table.get(state)
            if not nxt:
                state = rng.choice(keys)
                continue
            c = rng.choice(nxt)
            if c != "\n":
                chars.append(c)
            state = state[1] + c
        out.append("".join(chars))
    return out


def idiom_items(texts, count: int, rng: random.Random) -> list[str]:
    """Items made only of clauses found in >= 5 novels, and idioms."""
    seen: Counter = Counter()
    for _, t in texts:
        seen.update(set(_CLAUSE.findall(t)))
    common = [c for c, k in seen.items() if k >= 5] + list(IDIOMS)
    out = []
    for _ in range(count):
        out.append("，".join(rng.choice(common) for _ in range(rng.randint(8, 15))) + "。")
    return out, len(common)


def make_index(items, cfg, converter, name="eval.jsonl"):
    entries = []
    for i, text in enumerate(items):
        key = item_key([text], converter, cfg.ngram, 2 * cfg.ngram)
        if key.hashes.size >= cfg.min_item_ngrams:
            entries.append((name, i, key))
    return build_index(entries, cfg.ngram), len(entries)


def shared_run(removed: str, item: str, converter) -> int:
    """Longest run of key characters the removed text and the item share verbatim."""
    a, b = key_text(removed, converter), key_text(item, converter)
    return difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b)).size


def false_positives(corpus, items, cfg, converter) -> dict:
    """Items matched, and the removals split by an independent check: a removal whose text shares a run of
    at least 2n key characters with its item is real shared text (a story reprinted in a collection, a
    quotation); the others are false positives."""
    index, usable = make_index(items, cfg, converter)
    matched, docs, chars, fp, fp_chars, shared = set(), set(), 0, 0, 0, set()
    hit = np.empty(0, np.uint64)
    for name, text in corpus:
        spans = units(text, cfg.max_unit_chars)
        key, _ = unit_keys(text, spans, converter)
        hashes = ngram_hashes(key, cfg.ngram)
        hit = np.union1d(hit, hashes[index.lookup(hashes)[0]])
        r = decontaminate(text, index, cfg, converter)
        matched.update(r.items_matched)
        for x in r.removals:
            docs.add(name)
            item = items[int(index.item_index[x.item])]
            if shared_run(text[x.start:x.stop], item, converter) >= 2 * cfg.ngram:
                shared.add(name)
            else:
                fp, fp_chars = fp + 1, fp_chars + x.stop - x.start
        chars += r.chars_removed
    total = sum(len(t) for _, t in corpus)
    return {"chance_hits": hit.size / max(1, int(np.unique(index.hashes).size)),
            "items": len(items), "usable": usable, "items_matched": len(matched), "docs_changed": len(docs),
            "chars_removed": chars, "fp_removals": fp, "fp_chars": fp_chars, "fp_char_rate": fp_chars / total,
            "shared_text_docs": sorted(shared)}


_S2T = None


def variant(story: str, kind: str, rng: random.Random) -> str:
    global _S2T
    if kind in ("edits", "all", "heavy_edits"):
        chars = list(story)
        han = [i for i, c in enumerate(chars) if "\u4e00" <= c <= "\u9fff"]
        count = len(han) // 15 if kind == "heavy_edits" else rng.randint(1, 5)
        for i in rng.sample(han, min(len(han), count)):
            chars[i] = chr(0x4E00 + rng.randrange(0x5000))
        story = "".join(chars)
    if kind in ("traditional", "all"):
        import opencc

        _S2T = _S2T or opencc.OpenCC("s2t")
        story = _S2T.convert(story)
    if kind in ("ascii", "all"):
        story = story.translate(str.maketrans("，。！？；：“”（）", ",.!?;:\"\"()"))
    if kind in ("wraps", "all"):
        flat, out, i = story.replace("\n", ""), [], 0
        while i < len(flat):
            step = rng.randint(20, 40)
            out.append(flat[i:i + step])
            i += step
        story = "\n".join(out)
    return story


VARIANTS = ("plain", "ascii", "wraps", "edits", "traditional", "all", "heavy_edits")


def plant(novel: str, story: str, rng: random.Random, wrapped: bool = False) -> tuple[str, int, int]:
    """`story` inserted between two paragraphs of `novel` with the novel's own paragraph separator (a blank
    line or a line break; a `wrapped` story keeps its single line breaks): (document, start, end of what
    was inserted)."""
    sep = "\n\n" if "\n\n" in novel else "\n"
    if sep == "\n\n" and "\n\n" not in story and not wrapped:
        story = story.replace("\n", sep)
    at = novel.find(sep, rng.randrange(0, len(novel) - 1))
    if at < 0:  # after the last paragraph
        return novel + sep + story, len(novel), len(novel) + len(sep) + len(story)
    at += len(sep)
    inserted = story + sep
    return novel[:at] + inserted + novel[at:], at, at + len(inserted)


def recall(corpus, stories, cfg, converter, rng: random.Random) -> dict:
    """Plant each story (one variant each, round robin) as new paragraphs into a novel of `corpus`."""
    index, _ = make_index(stories, cfg, converter)
    per = {v: {"stories": 0, "removed_fully": 0, "story_chars": 0, "story_removed": 0, "collateral": 0,
               "collateral_shared": 0} for v in VARIANTS}
    docs = [t for _, t in corpus if len(t) > 5000]
    for k, story in enumerate(stories):
        kind = VARIANTS[k % len(VARIANTS)]
        planted = variant(story, kind, rng)
        novel = rng.choice(docs)
        doc, lo, hi = plant(novel, planted, rng, wrapped=kind in ("wraps", "all"))
        r = decontaminate(doc, index, cfg, converter)
        removed_story = sum(max(0, min(hi, x.stop) - max(lo, x.start)) for x in r.removals)
        s = per[kind]
        s["stories"] += 1
        s["story_chars"] += hi - lo
        s["story_removed"] += removed_story
        s["removed_fully"] += removed_story == hi - lo
        for x in r.removals:  # removed text outside the story: shared with its item verbatim (a real copy) or not
            outside = x.stop - x.start - max(0, min(hi, x.stop) - max(lo, x.start))
            if not outside:
                continue
            text = doc[x.start:lo] + doc[hi:x.stop] if x.start < hi and x.stop > lo else doc[x.start:x.stop]
            if any(shared_run(text, stories[int(index.item_index[i])], converter) >= 2 * cfg.ngram
                   for i in r.items_matched):  # a real copy of a matched item
                s["collateral_shared"] += outside
            else:
                s["collateral"] += outside
    return per


def cost(corpus, items, cfg, converter) -> dict:
    index, _ = make_index(items, cfg, converter)
    mb = sum(len(t.encode()) for _, t in corpus) / 1e6
    best = None
    for _ in range(3):
        t0 = time.process_time()
        for _, text in corpus:
            decontaminate(text, index, cfg, converter)
        s = time.process_time() - t0
        best = s if best is None else min(best, s)
    t0 = time.process_time()
    make_index(items, cfg, converter)
    index_s = time.process_time() - t0
    per_mb = best / mb
    return {"mb": round(mb, 1), "cpu_s_per_mb": round(per_mb, 4), "mb_per_s": round(1 / per_mb, 1),
            "share_of_build": round(per_mb / BUILD_S_PER_MB, 4), "index_s": round(index_s, 2),
            "index_pairs": int(index.hashes.size)}


def scale(source, corpus, cfg, converter, count: int, rng: random.Random) -> dict:
    """An eval set of `count` items (windows of `source`): index build time and size, and the cost per MB of
    a quarter of `corpus` against it."""
    items = heldout_items(source, count, rng)
    t0 = time.process_time()
    index, usable = make_index(items, cfg, converter)
    build_s = time.process_time() - t0
    size = sum(a.nbytes for a in (index.hashes, index.items, index.item_ngrams, index.item_chars, index.item_file,
                                  index.item_index))
    size += sum(len(h) + len(t) for h, t in zip(index.item_head, index.item_tail)) * 4
    docs = corpus[: max(1, len(corpus) // 4)]
    mb = sum(len(t.encode()) for _, t in docs) / 1e6
    t0 = time.process_time()
    for _, text in docs:
        decontaminate(text, index, cfg, converter)
    per_mb = (time.process_time() - t0) / mb
    return {"items": usable, "pairs": int(index.hashes.size), "index_mb": round(size / 1e6, 1),
            "build_s": round(build_s, 1), "cpu_s_per_mb": round(per_mb, 4)}


def run(cfg: DecontaminateConfig, a, b, n_items: int, seed: int, converter, with_cost: bool) -> dict:
    rng = random.Random(seed)
    held = heldout_items(a, n_items, rng)
    idioms, n_common = idiom_items(a + b, n_items // 3, rng)
    out = {
        "fp_heldout": false_positives(b, held, cfg, converter),
        "fp_markov": false_positives(b, markov_items(a, n_items // 3, rng), cfg, converter),
        "fp_idioms": false_positives(b, idioms, cfg, converter) | {"common_clauses": n_common},
        "recall": recall(b, held[: max(60, n_items // 10)], cfg, converter, rng),
    }
    if with_cost:
        out["cost"] = cost(b, held, cfg, converter)
    return out


def _print(label: str, res: dict) -> None:
    print(f"== {label}")
    for name in ("fp_heldout", "fp_markov", "fp_idioms"):
        f = res[name]
        print(f"  {name:11s} items {f['items']:5d} (usable {f['usable']:5d})  matched {f['items_matched']:3d}  "
              f"docs changed {f['docs_changed']:3d}  chars removed {f['chars_removed']}  FALSE POSITIVES: "
              f"{f['fp_removals']} removals, {f['fp_chars']} chars ({f['fp_char_rate']:.2e} of the corpus); "
              f"{f['chance_hits']:.2%} of the set's n-grams occur somewhere in the corpus")
        if f["shared_text_docs"]:
            print(f"    (removals of real shared text, verified independently, in: {', '.join(f['shared_text_docs'])})")
    for kind, s in res["recall"].items():
        n = max(1, s["stories"])
        print(f"  recall {kind:11s} stories {s['stories']:3d}  fully removed {s['removed_fully'] / n:6.1%}  "
              f"story chars removed {s['story_removed'] / max(1, s['story_chars']):6.1%}  other chars removed: "
              f"{s['collateral']} (+ {s['collateral_shared']} of real copies of eval items)")
    if "cost" in res:
        c = res["cost"]
        print(f"  cost: {c['cpu_s_per_mb']} CPU s/MB ({c['mb_per_s']} MB/s) over {c['mb']} MB = "
              f"{c['share_of_build']:.1%} of the 1x build ({BUILD_S_PER_MB:.2f} s/MB); index of "
              f"{c['index_pairs']} pairs built in {c['index_s']} s")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--items", type=int, default=3000, help="held-out eval items (LOT-sized: a few thousand)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--limit-mb", type=float, default=None, help="read only this many MB of novels")
    ap.add_argument("--scale-items", type=int, default=0, help="also time an index of this many items (100000)")
    ap.add_argument("--sweep", action="store_true", help="also n in 8/10/13/16 x min_coverage 0.3/0.5")
    args = ap.parse_args(argv)
    if not NOVELS.is_dir():
        print("../shared/corpus/novels is not present: nothing to measure")
        return
    converter = make_converter()
    a, b = load_halves(args.limit_mb)
    base = DecontaminateConfig()
    _print(f"defaults: n={base.ngram} min_coverage={base.min_coverage} min_matched={base.min_matched_ngrams}",
           run(base, a, b, args.items, args.seed, converter, with_cost=True))
    if args.scale_items:
        for label, source in (("half A (other novels)", a), ("half B itself: every item matches", b)):
            f = scale(source, b, base, converter, args.scale_items, random.Random(args.seed))
            print(f"== scale, {args.scale_items} items from {label}: {f['pairs']} (hash, item) pairs, ~{f['index_mb']} "
                  f"MB index built in {f['build_s']} CPU s; half B against it: {f['cpu_s_per_mb']} CPU s/MB")
    if args.sweep:
        for n, cov in ((6, 0.5), (8, 0.5), (13, 0.5), (16, 0.5), (20, 0.5), (10, 0.3), (10, 0.7)):
            cfg = dataclasses.replace(base, ngram=n, min_coverage=cov)
            _print(f"n={n} min_coverage={cov}", run(cfg, a, b, args.items, args.seed, converter, False))


if __name__ == "__main__":
    main()
