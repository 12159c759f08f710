"""An evaluation set read in one process: the index and its counts (launch-time checks, `decontam-check`).

The build reads the same files inside the pipeline (:class:`transforms.decontam.stage.ReadEvalIndex`);
both go through :func:`item_entries`, so they index the same items.
"""

from __future__ import annotations

from typing import Iterator

from transforms.decontam.config import DecontaminateConfig
from transforms.decontam.index import EvalIndex, build_index
from transforms.decontam.keys import ItemKey, item_key
from transforms.decontam.readers import read_items


def item_entries(eval_file, cfg: DecontaminateConfig, converter) -> Iterator[tuple[str, int, ItemKey | None]]:
    """(file name, item index, ItemKey or None when too short to match) of every item of InputFile `eval_file`."""
    for item in read_items(eval_file.path, eval_file.source, cfg):
        key = item_key(item.segments, converter, cfg.ngram, 2 * cfg.ngram)
        yield item.file, item.index, (key if key.hashes.size >= cfg.min_item_ngrams else None)


def read_eval_set(files, cfg: DecontaminateConfig, converter) -> tuple[EvalIndex, dict[str, dict[str, int]]]:
    """(index of every usable item of `files`, {file name: {"items", "used", "too_short"}}). Raises EvalFileError."""
    entries, counts = [], {}
    for f in files:
        c = counts.setdefault(f.source, {"items": 0, "used": 0, "too_short": 0})
        for name, index, key in item_entries(f, cfg, converter):
            c["items"] += 1
            if key is None:
                c["too_short"] += 1
                continue
            c["used"] += 1
            entries.append((name, index, key))
            if len(entries) > cfg.max_items:
                raise ValueError(f"more than decontaminate.max_items ({cfg.max_items}) evaluation items")
    return build_index(entries, cfg.ngram), counts
