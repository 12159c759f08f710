"""The eval index at scale: 100k items in sorted numpy arrays, built the same whatever the combine order."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from transforms.decontam.index import build_index
from transforms.decontam.keys import ItemKey
from transforms.decontam.stage import BuildIndex


def entries(count: int, per_item: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        hashes = np.unique(rng.integers(0, 2**63, per_item, dtype=np.uint64))
        out.append((f"set/{i % 7}.jsonl", i, ItemKey(hashes, per_item + 9, "首" * 20, "尾" * 20)))
    return out


def test_a_hundred_thousand_items_index_compactly_and_look_up_exactly():
    items = entries(100_000, 30)
    index = build_index(items, 10)
    assert len(index) == 100_000 and index.hashes.size == 3_000_000
    assert index.hashes.dtype == np.uint64 and index.items.dtype == np.uint32
    assert np.all(np.diff(index.hashes.astype(np.float64)) >= 0)
    assert index.hashes.nbytes + index.items.nbytes == 36_000_000  # 12 bytes a pair, no Python objects per n-gram
    probe_item = 76_543
    ordinal = next(k for k in range(len(index)) if index.describe(k) == items[probe_item][:2])
    probe = np.concatenate([items[probe_item][2].hashes[:10], np.arange(5, dtype=np.uint64)])
    positions, hit_items = index.lookup(probe)
    assert positions.tolist() == list(range(10)) and set(hit_items.tolist()) == {ordinal}
    assert len(pickle.dumps(index)) < 45_000_000  # the side input as shipped: arrays, no bit table


def test_combining_in_any_grouping_gives_the_same_index():
    items = entries(200, 20, seed=1)
    fn = BuildIndex(10, 1000)
    one = fn.extract_output(list(items))
    parts = [items[i::3] for i in range(3)]
    accs = []
    for part in parts:
        acc = fn.create_accumulator()
        for e in reversed(part):
            acc = fn.add_input(acc, e)
        accs.append(acc)
    merged = fn.extract_output(fn.merge_accumulators(list(reversed(accs))))
    for name in ("hashes", "items", "item_ngrams", "item_chars", "item_file", "item_index"):
        assert np.array_equal(getattr(one, name), getattr(merged, name)), name
    assert one.files == merged.files and one.item_head == merged.item_head


def test_too_many_items_fail_naming_the_key():
    fn = BuildIndex(10, 5)
    acc = fn.create_accumulator()
    with pytest.raises(ValueError, match="decontaminate.max_items"):
        for e in entries(6, 3):
            acc = fn.add_input(acc, e)
