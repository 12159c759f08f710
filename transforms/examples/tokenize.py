"""The sentencepiece model seen as a T5 vocabulary: pieces, then sentinels counting down from the top.

Ids: pad 0, EOS 1, unk 2 (set when the model is trained, `transforms.vocab`), then the spm pieces;
sentinel <extra_id_i> is ``num_pieces + num_sentinels - 1 - i``, exactly what
``transformers.T5Tokenizer(spiece.model, extra_ids=num_sentinels)`` assigns.

Besides ids, span masking needs to know where each token starts in the text (span edges are moved to
word boundaries and must never fall inside a character that byte fallback spelled as several byte
tokens). :meth:`SpmTokenizer.encode` derives those offsets from a per-piece width table, which is
~5x cheaper than sentencepiece's own offset mapping and equal to it (tests compare the two).
"""

from __future__ import annotations

import numpy as np
import sentencepiece as spm

SPACE_PIECE = "\u2581"


class Encoded:
    """A tokenized text: `ids` (int32, n), `offsets` (n+1 char offsets of token boundaries, offsets[n] =
    len(text)) and `valid` (n+1 bools: boundary t may be a span edge: it is the start or end, or the
    token before it covers at least one character, so it never splits a character or sits right after the
    dummy prefix)."""

    __slots__ = ("text", "ids", "offsets", "valid")

    def __init__(self, text: str, ids: np.ndarray, offsets: np.ndarray, valid: np.ndarray):
        self.text, self.ids, self.offsets, self.valid = text, ids, offsets, valid

    def __len__(self) -> int:
        return len(self.ids)


class SpmTokenizer:
    """A sentencepiece processor plus T5 sentinel ids and token->character offsets."""

    def __init__(self, model_bytes: bytes, num_sentinels: int = 100):
        self.sp = spm.SentencePieceProcessor(model_proto=model_bytes)
        self.num_pieces = self.sp.get_piece_size()
        self.num_sentinels = num_sentinels
        self.vocab_size = self.num_pieces + num_sentinels
        self.eos_id = self.sp.eos_id()
        self.pad_id = self.sp.pad_id()
        self.unk_id = self.sp.unk_id()
        self._dummy_prefix = self.sp.encode("x", out_type=str)[0].startswith(SPACE_PIECE)
        self._width = np.zeros(self.num_pieces, dtype=np.int32)
        self._is_byte = np.zeros(self.num_pieces, dtype=bool)
        self._is_cont = np.zeros(self.num_pieces, dtype=bool)  # byte piece of a UTF-8 continuation byte
        for i in range(self.num_pieces):
            if self.sp.is_byte(i):
                self._is_byte[i] = True
                self._is_cont[i] = 0x80 <= int(self.sp.id_to_piece(i)[3:5], 16) <= 0xBF
            elif not (self.sp.is_control(i) or self.sp.is_unknown(i)):
                self._width[i] = len(self.sp.id_to_piece(i))

    def sentinel(self, i: int) -> int:
        """Id of <extra_id_i>."""
        if not 0 <= i < self.num_sentinels:
            raise ValueError(f"sentinel {i} out of range (num_sentinels={self.num_sentinels})")
        return self.vocab_size - 1 - i

    def is_sentinel(self, token_id: int) -> bool:
        return self.num_pieces <= token_id < self.vocab_size

    def sentinel_index(self, token_id: int) -> int:
        return self.vocab_size - 1 - token_id

    def encode_ids(self, text: str) -> list[int]:
        """Plain spm ids of `text` (no EOS)."""
        return self.sp.encode(text)

    def encode(self, text: str) -> Encoded:
        """`text` tokenized, with the char offset of every token boundary (see :class:`Encoded`)."""
        ids = np.asarray(self.sp.encode(text), dtype=np.int32)
        n = len(ids)
        if n and (ids == self.unk_id).any():
            return self._encode_slow(text)
        width = self._width[ids].copy()
        byte = self._is_byte[ids]
        if byte.any():
            nxt_cont = np.zeros(n, dtype=bool)
            nxt_cont[:-1] = self._is_cont[ids[1:]]
            width[byte] = np.where(nxt_cont[byte], 0, 1)
        if n and self._dummy_prefix:
            width[0] -= 1
        offsets = np.zeros(n + 1, dtype=np.int64)
        np.cumsum(width, out=offsets[1:])
        if offsets[-1] != len(text):  # a piece whose surface differs from its spelling: trust spm
            return self._encode_slow(text)
        valid = np.ones(n + 1, dtype=bool)
        valid[1:n] = width[:-1] > 0
        return Encoded(text, ids, offsets, valid)

    def _encode_slow(self, text: str) -> Encoded:
        res = self.sp.encode(text, out_type="offset_mapping")
        ids = np.asarray(res["ids"], dtype=np.int32)
        n = len(ids)
        offsets = np.zeros(n + 1, dtype=np.int64)
        valid = np.ones(n + 1, dtype=bool)
        spans = res["offsets"]
        for t in range(n):
            offsets[t] = spans[t][0]
            if t:
                valid[t] = spans[t - 1][1] > spans[t - 1][0]
        offsets[n] = len(text)
        return Encoded(text, ids, offsets, valid)

    def decode(self, ids) -> str:
        """Text of ids, with sentinels shown as <extra_id_i>, EOS as </s> and pad as <pad>.

        Runs of ordinary pieces between special ids are decoded separately; a space that starts such a
        run (not the whole sequence) is kept, although sentencepiece drops it as a dummy prefix.
        """
        out: list[str] = []
        run: list[int] = []
        at_start = True

        def flush() -> None:
            nonlocal run, at_start
            if run:
                text = self.sp.decode(run)
                if not at_start and self.sp.id_to_piece(run[0]).startswith(SPACE_PIECE):
                    text = " " + text
                out.append(text)
                run = []
            at_start = False

        for t in ids:
            t = int(t)
            if t < self.num_pieces and t not in (self.eos_id, self.pad_id):
                run.append(t)
                continue
            flush()
            if self.is_sentinel(t):
                out.append(f"<extra_id_{self.sentinel_index(t)}>")
            elif t == self.eos_id:
                out.append("</s>")
            elif t == self.pad_id:
                out.append("<pad>")
            else:
                out.append(f"<id_{t}>")
        flush()
        return "".join(out)
