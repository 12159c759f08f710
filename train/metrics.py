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
