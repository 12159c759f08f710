"""The `[examples]` table: span corruption (text infilling), conditional continuation, task mix, split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from transforms.config_base import StageConfig, knob
from transforms.lengths import expected_noise, segment_token_budget, t5_lengths

INFILLING = "infilling"
CONTINUATION = "continuation"
TASKS = (INFILLING, CONTINUATION)


@dataclass(frozen=True)
class ExamplesConfig(StageConfig):
    """How segments become encoder-decoder examples (T5 ids: pad 0, EOS 1, sentinels from the top)."""

    section: ClassVar[str] = "examples"

    input_length: int = knob(512, "Maximum encoder input ids, EOS included; no example exceeds it")
    noise_density: float = knob(0.15, "Infilling: fraction of a segment's tokens that are masked")
    mean_span: float = knob(3.0, "Infilling: mean span length (Poisson lambda, or T5's mean for t5_uniform)")
    span_distribution: str = knob(
        "poisson",
        "Infilling span lengths: poisson = max(1, Poisson(mean_span)); t5_uniform = T5's random_spans_noise_mask",
        choices=("poisson", "t5_uniform"),
    )
    snap_to_words: bool = knob(True, "Move span edges to jieba word boundaries so no span cuts a word in half")
    task_mix: str = knob(
        "ratio", "ratio: one task per segment, drawn by infilling_fraction; both: every segment gives both",
        choices=("ratio", "both"),
    )
    infilling_fraction: float = knob(0.5, "With task_mix = ratio: share of segments that become infilling examples")
    continuation_min: float = knob(0.25, "Continuation: earliest split point, as a fraction of the segment's tokens")
    continuation_max: float = knob(0.75, "Continuation: latest split point, as a fraction of the segment's tokens")
    validation_fraction: float = knob(0.005, "Share of documents (by hash, never segments) in validation; at least one")
    num_sentinels: int = knob(100, "Sentinel ids <extra_id_0..N-1> above the spm pieces (T5Tokenizer extra_ids)")
    min_tokens: int = knob(8, "Segments with fewer tokens than this make no example (counted)")
    continuation_sentinel: int = knob(
        1, "Continuation: input ends with <extra_id_N> and target starts with it (LongLM's released data use N = 1)"
    )
    decoder_start_id: int = knob(
        1, "Decoder start id the trainer puts before every target, recorded for it and for the export "
        "(LongLM generates with decoder_start_token_id=1, i.e. </s>; T5 uses 0)"
    )

    def check(self) -> None:
        self.require(self.input_length >= 16, "input_length", "must be >= 16")
        self.require(0.0 < self.noise_density < 1.0, "noise_density", "must be in (0, 1)")
        self.require(self.mean_span >= 1.0, "mean_span", "must be >= 1")
        self.require(0.0 <= self.infilling_fraction <= 1.0, "infilling_fraction", "must be in [0, 1]")
        self.require(0.0 < self.continuation_min <= self.continuation_max < 1.0, "continuation_min",
                     "need 0 < continuation_min <= continuation_max < 1")
        self.require(0.0 <= self.validation_fraction <= 1.0, "validation_fraction", "must be in [0, 1]")
        self.require(self.num_sentinels >= 2, "num_sentinels", "must be >= 2")
        self.require(self.min_tokens >= 2, "min_tokens", "must be >= 2")
        self.require(0 <= self.continuation_sentinel < self.num_sentinels, "continuation_sentinel",
                     f"must be in [0, num_sentinels={self.num_sentinels})")
        self.require(self.decoder_start_id >= 0, "decoder_start_id", "must be >= 0")
        raw, _ = self.lengths()
        self.require(raw >= self.min_tokens, "input_length", "leaves no room for a segment")
        _, n_spans = expected_noise(raw, self.noise_density, self.mean_span)
        self.require(n_spans + 1 <= self.num_sentinels, "num_sentinels",
                     f"~{n_spans} spans per example need more than {self.num_sentinels} sentinels")

    def lengths(self) -> tuple[int, int]:
        """(raw tokens per segment, expected infilling target ids) by T5's arithmetic for these settings."""
        return t5_lengths(self.input_length, self.noise_density, self.mean_span)

    def max_segment_tokens(self) -> int:
        """Token budget of a segment: the raw length whose corrupted input fits input_length.

        A continuation input (front <= continuation_max of the segment, + sentinel + EOS) is shorter, so
        the infilling budget bounds both tasks.
        """
        return segment_token_budget(self.input_length, self.noise_density, self.mean_span, self.continuation_max)
