"""The corpus's sentencepiece model, seen as a T5 tokenizer (pieces + 100 reversed sentinels).

Also writes the Hugging Face tokenizer files of an export without needing `transformers`, `tokenizers`
or `protobuf`: a minimal protobuf reader pulls the normalizer and trainer settings out of spiece.model,
and tokenizer.json is plain JSON in the `tokenizers` serialisation format.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from pathlib import Path

from train.config import EXTRA_IDS

_SENTINEL = re.compile(r"<extra_id_(\d+)>")


@dataclass(frozen=True)
class SpmSettings:
    """What spiece.model says about normalisation and byte fallback (protobuf defaults when absent)."""

    precompiled_charsmap: bytes = b""
    add_dummy_prefix: bool = True
    remove_extra_whitespaces: bool = True
    byte_fallback: bool = False


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field number, wire type, value) of a protobuf message; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos : pos + 8], pos + 8
        elif wire == 2:
            size, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + size], pos + size
        elif wire == 5:
            value, pos = buf[pos : pos + 4], pos + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def read_spm_settings(model_bytes: bytes) -> SpmSettings:
    """Parse ModelProto.normalizer_spec (field 3) and trainer_spec.byte_fallback (field 2.35)."""
    values: dict = {}
    for number, _, value in _fields(model_bytes):
        if number == 3:
            for n, _, v in _fields(value):
                if n == 2:
                    values["precompiled_charsmap"] = bytes(v)
                elif n == 3:
                    values["add_dummy_prefix"] = bool(v)
                elif n == 4:
                    values["remove_extra_whitespaces"] = bool(v)
        elif number == 2:
            for n, _, v in _fields(value):
                if n == 35:
                    values["byte_fallback"] = bool(v)
    return SpmSettings(**values)


class T5Vocab:
    """A sentencepiece processor plus T5 sentinels: <extra_id_i> has id n_pieces + 99 - i."""

    def __init__(self, model_file: str | Path):
        import sentencepiece as spm

        self.path = Path(model_file)
        self.sp = spm.SentencePieceProcessor(model_file=str(self.path))
        self.n_pieces = self.sp.get_piece_size()
        self.pad_id, self.eos_id, self.unk_id = self.sp.pad_id(), self.sp.eos_id(), self.sp.unk_id()

    def __len__(self) -> int:
        return self.n_pieces + EXTRA_IDS

    def sentinel_id(self, i: int) -> int:
        """Id of <extra_id_i>."""
        if not 0 <= i < EXTRA_IDS:
            raise ValueError(f"sentinel index out of range: {i}")
        return self.n_pieces + EXTRA_IDS - 1 - i

    def encode(self, text: str, add_eos: bool = True) -> list[int]:
        """Ids of `text`, with literal <extra_id_N> markers mapped to sentinel ids and </s> appended."""
        ids: list[int] = []
        pos = 0
        for match in _SENTINEL.finditer(text):
            if match.start() > pos:
                ids.extend(self.sp.encode(text[pos : match.start()]))
            ids.append(self.sentinel_id(int(match.group(1))))
            pos = match.end()
        if pos < len(text):
            ids.extend(self.sp.encode(text[pos:]))
        return ids + [self.eos_id] if add_eos else ids

    def decode(self, ids, keep_sentinels: bool = True) -> str:
        """Text of `ids`; pad/eos and ids past the vocabulary are dropped, sentinels shown as <extra_id_N>."""
        out: list[str] = []
        run: list[int] = []
        for i in (int(x) for x in ids):
            if i in (self.pad_id, self.eos_id) or i >= len(self):
                continue
            if i >= self.n_pieces:
                if run:
                    out.append(self.sp.decode(run))
                    run = []
                if keep_sentinels:
                    out.append(f"<extra_id_{self.n_pieces + EXTRA_IDS - 1 - i}>")
            else:
                run.append(i)
        if run:
            out.append(self.sp.decode(run))
        return "".join(out)

    def special_pieces(self) -> dict[str, str]:
        """Pieces of pad/eos/unk as stored in the model."""
        return {
            "pad_token": self.sp.id_to_piece(self.pad_id),
            "eos_token": self.sp.id_to_piece(self.eos_id),
            "unk_token": self.sp.id_to_piece(self.unk_id),
        }

    def _added_token(self, token_id: int, content: str) -> dict:
        return {
            "id": token_id,
            "content": content,
            "single_word": False,
            "lstrip": False,
            "rstrip": False,
            "normalized": False,
            "special": True,
        }

    def tokenizer_json(self) -> dict:
        """The `tokenizers` serialisation of this vocabulary (Unigram + Metaspace, sentinels as added tokens)."""
        settings = read_spm_settings(self.path.read_bytes())
        sp = self.sp
        vocab = [[sp.id_to_piece(i), float(sp.get_score(i))] for i in range(self.n_pieces)]
        vocab += [[f"<extra_id_{i}>", 0.0] for i in range(EXTRA_IDS - 1, -1, -1)]
        pieces = self.special_pieces()
        added = self._added_tokens()
        normalizers: list[dict] = []
        if settings.precompiled_charsmap:
            charsmap = base64.b64encode(settings.precompiled_charsmap).decode("ascii")
            normalizers.append({"type": "Precompiled", "precompiled_charsmap": charsmap})
        if settings.remove_extra_whitespaces:
            normalizers.append({"type": "Strip", "strip_left": True, "strip_right": True})
            normalizers.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
        prepend = "always" if settings.add_dummy_prefix else "never"
        metaspace = {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": prepend, "split": False}
        eos = pieces["eos_token"]
        return {
            "version": "1.0",
            "truncation": None,
            "padding": None,
            "added_tokens": added,
            "normalizer": {"type": "Sequence", "normalizers": normalizers} if normalizers else None,
            "pre_tokenizer": metaspace,
            "post_processor": {
                "type": "TemplateProcessing",
                "single": [{"Sequence": {"id": "A", "type_id": 0}}, {"SpecialToken": {"id": eos, "type_id": 0}}],
                "pair": [
                    {"Sequence": {"id": "A", "type_id": 0}},
                    {"SpecialToken": {"id": eos, "type_id": 0}},
                    {"Sequence": {"id": "B", "type_id": 0}},
                    {"SpecialToken": {"id": eos, "type_id": 0}},
                ],
                "special_tokens": {eos: {"id": eos, "ids": [self.eos_id], "tokens": [eos]}},
            },
            "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}, metaspace]},
            "model": {
                "type": "Unigram",
                "unk_id": self.unk_id,
                "vocab": vocab,
                "byte_fallback": settings.byte_fallback,
            },
        }

    def tokenizer_config(self, model_max_length: int = 512) -> dict:
        """tokenizer_config.json for T5Tokenizer (slow and fast, transformers 4 and 5)."""
        pieces = self.special_pieces()
        decoder = {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in self._added_tokens()}
        return {
            "tokenizer_class": "T5Tokenizer",
            "extra_ids": EXTRA_IDS,
            "additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)],
            "added_tokens_decoder": decoder,
            "model_max_length": model_max_length,
            "clean_up_tokenization_spaces": False,
            "legacy": True,
            **pieces,
        }

    def _added_tokens(self) -> list[dict]:
        """pad/eos/unk and the sentinels as `tokenizers` added tokens, in id order."""
        pieces = self.special_pieces()
        specials = [(self.pad_id, "pad_token"), (self.eos_id, "eos_token"), (self.unk_id, "unk_token")]
        added = [self._added_token(i, pieces[name]) for i, name in sorted(specials)]
        added += [self._added_token(self.sentinel_id(i), f"<extra_id_{i}>") for i in range(EXTRA_IDS - 1, -1, -1)]
        return added

    def special_tokens_map(self) -> dict:
        """special_tokens_map.json contents."""
        return {**self.special_pieces(), "additional_special_tokens": [f"<extra_id_{i}>" for i in range(EXTRA_IDS)]}

