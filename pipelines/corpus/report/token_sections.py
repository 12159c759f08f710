"""Report sections about tokens: example length and masking distributions, the vocabulary, and a
few decoded examples with their sentinels highlighted."""

from __future__ import annotations

import numpy as np

from pipelines.corpus.report.charts import Panel
from pipelines.corpus.report.doc import NOT_BUILT, Heading, Para, Sample, Section, Table, num, pct
from pipelines.corpus.report.measure import lookup, span_reference, token_counts
from pipelines.corpus.report.sections import Context, summary_table
from pipelines.corpus.report.vocab import shorten

TASKS = ("infilling", "continuation")
TOP_PIECES = 30
NOISE_KEYS = ("noise_density", "mask_ratio", "noise_ratio")
SPAN_KEYS = ("mean_span", "mean_span_length", "mean_noise_span_length")
SPAN_NOTES = {
    True: "examples.span_distribution = poisson: lengths max(1, Poisson(mean_span)).",
    False: "geometric with mean mean_span, the limit of T5's random_spans_noise_mask (masked tokens split into "
           "round(masked / mean_span) spans uniformly at random).",
}


def _tasks(stats) -> list[str]:
    present = sorted(set(stats.task.tolist()))
    return [t for t in TASKS if t in present] + [t for t in present if t not in TASKS]


def example_stats_section(ctx: Context) -> Section:
    d = ctx.data
    sec = Section("tokens", "Examples: token lengths and masking")
    if not d.examples:
        sec.missing("examples/")
        sec.status = NOT_BUILT
        return sec
    rows = []
    for split, s in d.examples.items():
        tasks = s.table.column("task").to_pylist() if "task" in s.table.column_names else []
        rows.append([split, num(s.total), num(s.sampled)] + [pct(tasks.count(t), len(tasks)) for t in TASKS])
    sec.add(Table(["split", "examples", "read for this report", *(f"{t} share" for t in TASKS)], rows))
    counters = {k: v for k, v in d.corpus.counters.items() if k.startswith("examples.")}
    if counters:
        sec.add(Table(["counter", "value"], [[k, num(v)] for k, v in sorted(counters.items())], "examples counters"))
    stats = d.pooled_stats
    if stats is None or not len(stats.task):
        sec.add(Para("The examples tables are empty.", "missing"))
        sec.status = "partly built"
        return sec
    _length_blocks(ctx, sec, stats)
    _masking_blocks(ctx, sec, stats)
    if d.vocab is None:
        sec.missing("vocab/spiece.model (needed to tell sentinels and EOS from text: content lengths and masking)")
        sec.status = "partly built"
    return sec


def _length_blocks(ctx: Context, sec: Section, stats) -> None:
    tasks = _tasks(stats)
    per = {t: stats.of(t) for t in tasks}
    panels = [Panel("Input tokens", "tokens", [(t, per[t].input_len) for t in tasks]),
              Panel("Target tokens", "tokens", [(t, per[t].target_len) for t in tasks])]
    table = [(f"{t}: input", per[t].input_len) for t in tasks] + [(f"{t}: target", per[t].target_len) for t in tasks]
    if stats.segment_len is not None:
        panels.append(Panel("Segment length (content tokens)", "tokens",
                            [(t, per[t].segment_len) for t in tasks]))
        table += [(f"{t}: segment", per[t].segment_len) for t in tasks]
    sec.add(Heading("Token lengths per task (all splits)"))
    sec.add(ctx.figure("token_lengths.png", "input, target and segment token lengths per task",
                       lambda c: c.panels(panels, cols=3 if len(panels) == 3 else 2)))
    sec.add(summary_table(table, unit="", caption="tokens per example (input and target include sentinels and EOS)"))


def _masking_blocks(ctx: Context, sec: Section, stats) -> None:
    if "infilling" not in set(stats.task.tolist()) or stats.input_content is None:
        return
    inf = stats.of("infilling")
    ratio = inf.mask_ratio()
    spans = stats.spans.get("infilling", np.zeros(0))
    config = ctx.data.corpus.config
    noise, mean_span = lookup(config, "examples", *NOISE_KEYS), lookup(config, "examples", *SPAN_KEYS)
    total = inf.input_content.sum() + inf.target_content.sum()
    realized = float(inf.target_content.sum() / total) if total else None
    sec.add(Heading("Masking (infilling): realized against configured"))
    panels = [Panel("Realized mask ratio per example", "masked / (masked + unmasked) tokens", [("examples", ratio)],
                    vline=(f"configured {noise}", float(noise)) if noise is not None else None, x_range=(0.0, 1.0),
                    bins=50)]
    ref = None
    distribution = lookup(config, "examples", "span_distribution")
    if mean_span is not None and len(spans):
        xs = np.arange(1, int(max(spans.max(), 3 * float(mean_span))) + 1)
        label, pmf = span_reference(distribution, float(mean_span), xs)
        ref = (label, xs, pmf * len(spans))
    panels.append(Panel("Span lengths", "tokens per masked span", [("spans", spans)], discrete=True, ref=ref))
    sec.add(ctx.figure("masking.png", "realized mask ratio and span lengths", lambda c: c.panels(panels)))
    n_examples = len(inf.task)
    sec.add(Table(["quantity", "configured", "realized"], [
        ["mask ratio (all masked / all content tokens)", num(noise), num(realized)],
        ["mask ratio, mean per example", num(noise), num(float(ratio.mean()) if len(ratio) else None)],
        ["mean span length (tokens)", num(mean_span), num(float(spans.mean()) if len(spans) else None)],
        ["spans per example", "–", num(len(spans) / n_examples if n_examples else None)],
        ["infilling examples measured", "–", num(n_examples)],
    ]))
    if noise is None or mean_span is None:
        sec.add(Para("The manifest's config has no examples.noise_density / examples.mean_span, "
                     "so there is nothing to compare against.", "missing"))
    else:
        sec.add(Para(f"Reference span distribution: {SPAN_NOTES[distribution == 'poisson']} Realized spans can "
                     "differ where span edges snap to word boundaries or close spans merge to fit the input.",
                     "muted"))


def vocab_section(ctx: Context) -> Section:
    d = ctx.data
    sec = Section("vocab", "Vocabulary")
    v = d.vocab
    if v is None:
        sec.missing("vocab/spiece.model")
        sec.status = NOT_BUILT
        return sec
    kinds = v.piece_kinds()
    sec.add(Table(["", "ids", "share of ids"], [
        ["sentencepiece pieces", num(v.n_pieces), pct(v.n_pieces, v.size)],
        *[[f"  of which {k}", num(n), pct(n, v.size, 2)] for k, n in kinds.items() if n],
        [f"T5 sentinels <extra_id_0..{v.num_sentinels - 1}>", num(v.num_sentinels), pct(v.num_sentinels, v.size)],
        ["vocabulary size", num(v.size), "100.0%"],
    ], f"ids: sentinel <extra_id_i> has id pieces + {v.num_sentinels - 1} - i"))
    texts = d.text_sample()
    if texts:
        tokens, chars = v.count_tokens(texts)
        sec.add(Table(["", "value"], [["tokens per character", num(tokens / chars if chars else None)],
                                      ["characters per token", num(chars / tokens if tokens else None)],
                                      ["measured on", f"{num(chars)} characters of {len(texts)} kept documents"]]))
    else:
        sec.missing("document text to measure tokens per character (documents/)")
    _frequent_pieces(ctx, sec, texts)
    return sec


def _frequent_pieces(ctx: Context, sec: Section, texts: list[str]) -> None:
    d, v = ctx.data, ctx.data.vocab
    counts = np.zeros(v.n_pieces, dtype=np.int64)
    for s in d.examples.values():
        if s.sampled:
            counts += token_counts(s.table, v.n_pieces, v.special_ids)
    source = "the examples read for this report"
    if not counts.sum() and texts:
        for ids in v.sp.encode(texts):
            counts += np.bincount(np.asarray(ids, dtype=np.int64), minlength=v.n_pieces)[: v.n_pieces]
        source = "the document text sample"
    total = int(counts.sum())
    if not total:
        sec.missing("examples or documents to count pieces in")
        return
    byte_share = counts[v.byte_pieces()].sum() / total
    unk = counts[v.unk_id] if 0 <= v.unk_id < v.n_pieces else 0
    sec.add(Heading(f"Most frequent pieces (in {source})"))
    sec.add(Para(f"{num(total)} tokens; byte-fallback tokens {pct(int(byte_share * total), total, 2)}, "
                 f"unknown tokens {pct(int(unk), total, 2)}; {num(int((counts > 0).sum()))} of "
                 f"{num(v.n_pieces)} pieces occur.", "muted"))
    top = np.argsort(-counts, kind="stable")[:TOP_PIECES]
    sec.add(Table(["rank", "id", "piece", "count", "share"],
                  [[str(r + 1), str(int(i)), v.piece(int(i)), num(int(counts[i])), pct(int(counts[i]), total, 2)]
                   for r, i in enumerate(top) if counts[i]]))
    sec.add(ctx.figure("pieces.png", "piece frequency by rank", lambda c: c.rank_frequency(counts)))


def samples_section(ctx: Context) -> Section:
    d = ctx.data
    sec = Section("samples", "Decoded examples")
    if not d.examples:
        sec.missing("examples/")
        sec.status = NOT_BUILT
        return sec
    if d.vocab is None:
        sec.missing("vocab/spiece.model, so examples cannot be decoded")
        sec.status = "partly built"
        return sec
    sec.add(Para("Sentinels are highlighted in yellow, end-of-sequence in blue. Long texts are shortened (…); "
                 "a continuation's input keeps its end, where the target begins.", "muted"))
    for split, s in d.examples.items():
        tasks = s.table.column("task").to_pylist() if "task" in s.table.column_names else []
        for task in TASKS:
            first = [i for i, t in enumerate(tasks) if t == task][: d.options.shown]
            picked = s.table.take(first).to_pylist() if first else []
            if not picked:
                sec.add(Para(f"{split}: no {task} examples.", "missing"))
            for r in picked:
                keep_end = task == "continuation"
                sec.add(Sample(f"{split} · {task} · {r['example_id']}", [
                    ("input", shorten(d.vocab.decode(r["input_ids"] or []), 360, keep_end=keep_end)),
                    ("target", shorten(d.vocab.decode(r["target_ids"] or []), 240)),
                ]))
    return sec
