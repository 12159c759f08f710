"""The corpus vocabulary as the report sees it: sentencepiece pieces plus T5 sentinels.

Sentinel <extra_id_i> has id n_pieces + num_sentinels - 1 - i (T5 order: appended after the pieces,
reversed); num_sentinels is the config's examples.num_sentinels, 100 by default.
Decoding keeps sentinels and EOS as separate parts so renderers can highlight them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: T5 sentinels appended after the sentencepiece pieces, unless the config says otherwise.
EXTRA_IDS = 100


@dataclass(frozen=True)
class Part:
    """A piece of a decoded sequence: kind is "text", "sentinel", "eos" or "unknown"."""

    kind: str
    text: str


class Vocab:
    """A sentencepiece model loaded from its bytes (no file needed, so it works on any file system)."""

    def __init__(self, model: bytes, num_sentinels: int = EXTRA_IDS):
        import sentencepiece as spm

        self.sp = spm.SentencePieceProcessor(model_proto=model)
        self.n_pieces = self.sp.get_piece_size()
        self.num_sentinels = int(num_sentinels)
        self.eos_id, self.pad_id, self.unk_id = self.sp.eos_id(), self.sp.pad_id(), self.sp.unk_id()

    @property
    def size(self) -> int:
        return self.n_pieces + self.num_sentinels

    @property
    def special_ids(self) -> tuple[int, ...]:
        """EOS and padding ids (those >= 0), which are neither content nor sentinels."""
        return tuple(i for i in (self.eos_id, self.pad_id) if i >= 0)

    def sentinel_index(self, token_id: int) -> int:
        return self.n_pieces + self.num_sentinels - 1 - token_id

    def byte_pieces(self) -> np.ndarray:
        """Boolean mask over piece ids: True for byte-fallback pieces (<0x00>..<0xFF>)."""
        return np.array([self.sp.is_byte(i) for i in range(self.n_pieces)], dtype=bool)

    def piece_kinds(self) -> dict[str, int]:
        """Pieces by kind: normal (incl. user defined), byte fallback, control (pad/eos/bos), unknown, unused."""
        kinds = {"normal": 0, "byte fallback": 0, "control": 0, "unknown": 0, "unused": 0}
        for i in range(self.n_pieces):
            if self.sp.is_byte(i):
                kinds["byte fallback"] += 1
            elif self.sp.is_control(i):
                kinds["control"] += 1
            elif self.sp.is_unknown(i):
                kinds["unknown"] += 1
            elif self.sp.is_unused(i):
                kinds["unused"] += 1
            else:
                kinds["normal"] += 1
        return kinds

    def piece(self, token_id: int) -> str:
        return self.sp.id_to_piece(int(token_id))

    def count_tokens(self, texts: list[str]) -> tuple[int, int]:
        """(tokens, characters) of `texts` encoded without EOS."""
        tokens = sum(len(ids) for ids in self.sp.encode(texts)) if texts else 0
        return tokens, sum(len(t) for t in texts)

    def decode(self, ids) -> list[Part]:
        """Parts of a token sequence; runs of ordinary pieces are decoded together, padding is dropped."""
        parts: list[Part] = []
        run: list[int] = []

        def flush():
            if run:
                parts.append(Part("text", self.sp.decode(run)))
                run.clear()

        for i in (int(x) for x in ids):
            if i == self.pad_id and i != self.eos_id:
                continue
            if 0 <= i < self.n_pieces and i != self.eos_id:
                run.append(i)
                continue
            flush()
            if i == self.eos_id:
                parts.append(Part("eos", "</s>"))
            elif self.n_pieces <= i < self.size:
                parts.append(Part("sentinel", f"<extra_id_{self.sentinel_index(i)}>"))
            else:
                parts.append(Part("unknown", f"<id {i}>"))
        flush()
        return parts


def shorten(parts: list[Part], limit: int, keep_end: bool = False) -> list[Part]:
    """At most `limit` characters of text parts; "…" marks the cut, and parts past it are dropped.

    keep_end keeps the last characters instead of the first (a continuation's prompt ends where the
    target begins)."""
    if sum(len(p.text) for p in parts if p.kind == "text") <= limit:
        return list(parts)
    seq = list(reversed(parts)) if keep_end else list(parts)
    out, budget = [], limit
    for p in seq:
        if p.kind != "text":
            out.append(p)
            continue
        if len(p.text) > budget:
            cut = p.text[-budget:] if keep_end else p.text[:budget]
            out.append(Part("text", "…" + cut if keep_end else cut + "…"))
            break
        else:
            out.append(p)
            budget -= len(p.text)
    return list(reversed(out)) if keep_end else out
