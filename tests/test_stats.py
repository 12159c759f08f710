"""BundleCounts: a DoFn's counters summed within a bundle, emitted once per name in finish_bundle."""

from __future__ import annotations

from apache_beam.transforms.window import GlobalWindow

from transforms.stats import STATS, BundleCounts


def test_bundle_counts_sum_per_name_and_reset_on_flush():
    counts = BundleCounts()
    counts.add({"examples.segments": 1, "examples.masked_tokens": 7})
    counts.add({"examples.segments": 1, "examples.rows.train": 2})
    out = list(counts.flush())
    assert [o.tag for o in out] == [STATS] * 3
    assert [o.value.value for o in out] == [("examples.masked_tokens", 7), ("examples.rows.train", 2),
                                           ("examples.segments", 2)]
    assert all(o.value.windows == (GlobalWindow(),) for o in out)  # finish_bundle outputs need a window
    assert list(counts.flush()) == []  # the next bundle starts from zero
