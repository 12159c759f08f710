"""Benchmark: string work on one huge paragraph stays linear (issue 13 item 4).

Run as ``python -m bench.bench_longline [--mb 100]``. The document is one paragraph of ``--mb`` MB
(UTF-8) of Han text with commas but no sentence end, hard-wrapped at 36 characters per line: the
worst case for the two steps that used to be quadratic. Figures, at 1/4, 1/2 and all of the size:

* ``rejoin_s`` — :func:`transforms.cleaning.wrap.rejoin_wraps` joining every wrapped line into one;
* ``cut_long_s`` — :func:`transforms.segment.cut_long` cutting the joined paragraph to the default
  segment budget;
* ``segment_s`` — :func:`transforms.segment.segment_document` on the joined paragraph (sentence
  split, cuts, packing);
* ``regex_pass_s`` — baseline in the same run: one ``regex`` whitespace pass over the same text;
* ``growth_per_doubling`` — time at the full size / time at half of it, per step: ~2 when linear
  (quadratic code measured ~3.5-4 per doubling).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import regex

from transforms.charsets import GB2312_LEVEL1


def wrapped_paragraph(mb: float, width: int = 36, seed: int = 11) -> str:
    """~`mb` MB (UTF-8) of Han text, a comma every 4-15 characters, no sentence end, one line per `width` chars."""
    rng = np.random.Generator(np.random.PCG64(seed))
    han = np.array([ord(c) for c in GB2312_LEVEL1], dtype=np.uint32)
    n = int(mb * 1_000_000 / 3)
    cps = han[rng.integers(0, han.size, n)]
    commas = np.cumsum(rng.integers(4, 16, n // 4 + 1))
    cps[commas[commas < n]] = ord("，")
    text = cps.astype("<u4").tobytes().decode("utf-32-le")
    return "\n".join(text[i : i + width] for i in range(0, len(text), width))


def _timed(fn, *args):
    t0 = time.process_time()
    out = fn(*args)
    return out, time.process_time() - t0


def measure(mb: float) -> dict:
    """Seconds (CPU) of each step on a `mb` MB wrapped paragraph."""
    from transforms.cleaning.wrap import rejoin_wraps
    from transforms.examples.config import ExamplesConfig
    from transforms.segment import SegmentConfig, cut_long, segment_document

    wrapped = wrapped_paragraph(mb)
    seg_cfg = SegmentConfig()
    budget = seg_cfg.budget_chars(ExamplesConfig())
    _, regex_s = _timed(regex.compile(r"\s+").sub, " ", wrapped)
    (joined, hits), rejoin_s = _timed(rejoin_wraps, wrapped, 16)
    assert "\n" not in joined and hits == wrapped.count("\n"), "the bench paragraph must rejoin into one line"
    pieces, cut_s = _timed(cut_long, joined, budget)
    assert "".join(pieces) == joined
    (segments, _), segment_s = _timed(segment_document, {"doc_id": "bench", "text": joined}, budget, seg_cfg)
    return {"mb": round(len(joined.encode("utf-8")) / 1e6, 1), "regex_pass_s": round(regex_s, 3),
            "rejoin_s": round(rejoin_s, 3), "cut_long_s": round(cut_s, 3), "segment_s": round(segment_s, 3),
            "segments": len(segments)}


def main(argv=None) -> dict:
    """Measure at mb/4, mb/2 and mb; print one line per size and the growth per doubling."""
    p = argparse.ArgumentParser(prog="python -m bench.bench_longline", description=__doc__.split("\n")[0])
    p.add_argument("--mb", type=float, default=100.0, help="size of the largest paragraph in MB (default 100)")
    a = p.parse_args(argv)
    runs = [measure(a.mb / 4), measure(a.mb / 2), measure(a.mb)]
    for r in runs:
        print(f"one {r['mb']} MB paragraph: rejoin_wraps {r['rejoin_s']} s, cut_long {r['cut_long_s']} s, "
              f"segment_document {r['segment_s']} s ({r['segments']} segments); one regex pass {r['regex_pass_s']} s")
    half, full = runs[1], runs[2]
    growth = {k: round(full[k] / max(half[k], 1e-9), 2) for k in ("rejoin_s", "cut_long_s", "segment_s", "regex_pass_s")}
    print("growth per doubling (2 = linear): " + ", ".join(f"{k[:-2]} x{v}" for k, v in growth.items()))
    return {"runs": runs, "growth_per_doubling": growth}


if __name__ == "__main__":
    main()
