"""Packing (seqio style): several examples per row, so a batch has fixed shapes and little padding.

A packed row holds whole examples one after another, up to `input_len` input and `target_len` target
slots. `pack_batches` fills up to `rows` open rows first-fit in stream order; when an example fits in no
open row and all are open, the fullest row is closed (ties: the oldest); every `rows` closed rows make a
batch. It is a pure function of the example order, so a reader's position stays (epoch, batches taken).
`collate_packed` adds per slot the segment number (1, 2, ... in the row; 0 = padding) and the position
within the segment, for inputs and targets; the model keeps attention inside a segment (train.attention).
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
import torch


class _Row:
    __slots__ = ("examples", "inputs", "targets")

    def __init__(self):
        self.examples, self.inputs, self.targets = [], 0, 0

    def fits(self, a, b, input_len: int, target_len: int) -> bool:
        return self.inputs + len(a) <= input_len and self.targets + len(b) <= target_len

    def add(self, a, b) -> None:
        self.examples.append((a, b))
        self.inputs += len(a)
        self.targets += len(b)


def pack_batches(examples: Iterable[tuple[np.ndarray, np.ndarray]], rows: int, input_len: int,
                 target_len: int) -> Iterator[list[list[tuple[np.ndarray, np.ndarray]]]]:
    """Batches of at most `rows` packed rows (each a list of (input, target) examples); only the last
    batch may have fewer rows. Examples must already fit a row (truncated to the lengths)."""
    open_rows: list[_Row] = []
    closed: list[list] = []
    for a, b in examples:
        row = next((r for r in open_rows if r.fits(a, b, input_len, target_len)), None)
        if row is None:
            if len(open_rows) == rows:
                fullest = max(range(len(open_rows)), key=lambda i: (open_rows[i].inputs + open_rows[i].targets, -i))
                closed.append(open_rows.pop(fullest).examples)
                if len(closed) == rows:
                    yield closed
                    closed = []
            row = _Row()
            open_rows.append(row)
        row.add(a, b)
    open_rows.sort(key=lambda r: -(r.inputs + r.targets))
    closed += [r.examples for r in open_rows]
    for start in range(0, len(closed), rows):
        yield closed[start:start + rows]


def collate_packed(batch: list[list[tuple[np.ndarray, np.ndarray]]], rows: int, input_len: int, target_len: int,
                   pad_id: int, decoder_start_id: int) -> dict:
    """Model-ready tensors of a packed batch, always `rows` x `input_len` / `target_len` (missing rows are
    all padding): ids, keep-mask, shifted decoder inputs, labels (-100 on padding), `label_positions`, and
    per slot the segment number and position within the segment (`input_segments`, `input_offsets`,
    `target_segments`, `target_offsets`, int32); `examples` counts the examples."""
    input_ids = np.full((rows, input_len), pad_id, dtype=np.int64)
    decoder_input_ids = np.full((rows, target_len), pad_id, dtype=np.int64)
    labels = np.full((rows, target_len), -100, dtype=np.int64)
    segments = {name: np.zeros((rows, n), dtype=np.int32)
                for name, n in (("input_segments", input_len), ("input_offsets", input_len),
                                ("target_segments", target_len), ("target_offsets", target_len))}
    for i, row in enumerate(batch):
        at_in = at_tg = 0
        for number, (a, b) in enumerate(row, start=1):
            input_ids[i, at_in:at_in + len(a)] = a
            segments["input_segments"][i, at_in:at_in + len(a)] = number
            segments["input_offsets"][i, at_in:at_in + len(a)] = np.arange(len(a))
            labels[i, at_tg:at_tg + len(b)] = b
            decoder_input_ids[i, at_tg] = decoder_start_id
            decoder_input_ids[i, at_tg + 1:at_tg + len(b)] = b[:-1]
            segments["target_segments"][i, at_tg:at_tg + len(b)] = number
            segments["target_offsets"][i, at_tg:at_tg + len(b)] = np.arange(len(b))
            at_in, at_tg = at_in + len(a), at_tg + len(b)
    return {
        "input_ids": torch.from_numpy(input_ids),
        "attention_mask": torch.from_numpy(segments["input_segments"] > 0),
        "decoder_input_ids": torch.from_numpy(decoder_input_ids),
        "labels": torch.from_numpy(labels),
        **{name: torch.from_numpy(values) for name, values in segments.items()},
        # flat indices of labelled slots (found on the host): the LM head and loss skip the padding
        "label_positions": torch.from_numpy(np.flatnonzero(labels.reshape(-1) >= 0)),
        "examples": sum(len(row) for row in batch),
    }


def packing_for(setting: str, device: torch.device) -> bool:
    """Whether `--packing on|off|auto` packs on `device` (auto: on CUDA, where fixed shapes and no
    padding pay; off on CPU, where skipping padding row-wise is already cheap)."""
    if setting not in ("on", "off", "auto"):
        raise ValueError(f"packing must be on, off or auto, got {setting!r}")
    return setting == "on" or (setting == "auto" and device.type == "cuda")
