"""Run logging: RUN/metrics.jsonl, progress lines on stdout, TensorBoard when it is installed."""

from __future__ import annotations

import json
from pathlib import Path


class MetricsLog:
    """RUN/metrics.jsonl (one JSON object per line), stdout progress lines, TensorBoard when installed."""

    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool, resume_step: int | None):
        self.enabled, self.path, self.writer = enabled, run_dir / "metrics.jsonl", None
        if not enabled:
            return
        if resume_step is not None and self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if json.loads(line).get("step", 0) <= resume_step]
            self.path.write_text("".join(line + "\n" for line in kept))
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                self.writer = None

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        with open(self.path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(record) + "\n")
        if self.writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)):
                    self.writer.add_scalar(key, value, record["step"])

    def say(self, text: str) -> None:
        if self.enabled:
            print(text, flush=True)

    def close(self) -> None:
        """Flush and close TensorBoard (its writer thread is joined here, not at interpreter exit)."""
        writer, self.writer = self.writer, None
        if writer is not None:
            writer.close()


def format_eta(seconds: float) -> str:
    """H:MM:SS for a number of seconds."""
    seconds = int(max(0, seconds))
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


#: Dense bf16 peak TFLOP/s of common accelerators (for MFU when --peak-tflops is not given).
PEAK_BF16_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 70.0, "L4": 121.0}


def training_flops(model, input_tokens: float, target_tokens: float) -> float:
    """Model FLOPs of a training step (forward + backward = 6 x multiply-adds per weight per token it
    touches): encoder weights per real input token, decoder weights and the LM head per real target token,
    except the decoder's cross-attention key/value projections, which run on every real input token.
    Attention score FLOPs are left out (small at T5's lengths), so MFU is slightly understated."""
    encoder = sum(p.numel() for p in model.encoder.parameters())
    cross_kv = sum(block.cross.k.weight.numel() + block.cross.v.weight.numel() for block in model.decoder.layers)
    decoder = sum(p.numel() for p in model.decoder.parameters()) + model.shared.weight.numel() - cross_kv
    return 6.0 * ((encoder + cross_kv) * input_tokens + decoder * target_tokens)
