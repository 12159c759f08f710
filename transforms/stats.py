"""Per-stage counters that end up in the manifest, and in Beam metrics on the way.

Beam metrics are for watching a job run; they are not guaranteed exact on every runner (retried
bundles, attempted vs committed), so the manifest's counters are computed from data instead: every
DoFn that counts something also emits `(name, n)` on its ``STATS`` tagged output, and the build sums
those with a CombinePerKey. Names are dotted: "<stage>.<counter>[.<detail>]".
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics
from apache_beam.transforms.window import GlobalWindows

#: Name of the tagged output every counting DoFn uses.
STATS = "stats"


def stat(name: str, value: int = 1) -> beam.pvalue.TaggedOutput:
    """Count `value` under `name`: increments the Beam metric and returns the tagged element to yield."""
    namespace, _, counter = name.partition(".")
    Metrics.counter(namespace or "longlm", counter or name).inc(value)
    return beam.pvalue.TaggedOutput(STATS, (name, int(value)))


class BundleCounts:
    """Counters summed within one bundle, for a DoFn that counts several things per element.

    ``add`` the counts of an element once its processing can no longer fail; ``flush`` in
    ``finish_bundle`` yields each (name, total) once on ``STATS`` (and increments the Beam metrics), so
    a bundle of 10,000 segments sends a dozen stats elements instead of 100,000. A failed bundle's
    outputs are discarded with it, so a retry counts nothing twice.
    """

    __slots__ = ("_totals",)

    def __init__(self):
        self._totals: dict[str, int] = {}

    def add(self, counts: dict[str, int]) -> None:
        totals = self._totals
        for name, value in counts.items():
            totals[name] = totals.get(name, 0) + int(value)

    def flush(self):
        """Yield the bundle's totals as windowed STATS outputs (for ``finish_bundle``) and reset."""
        totals, self._totals = self._totals, {}
        for name in sorted(totals):
            namespace, _, counter = name.partition(".")
            Metrics.counter(namespace or "longlm", counter or name).inc(totals[name])
            yield beam.pvalue.TaggedOutput(STATS, GlobalWindows.windowed_value((name, totals[name])))


class SumStats(beam.PTransform):
    """Flatten any number of stats PCollections and sum them per name -> PCollection[(name, total)]."""

    def expand(self, pcolls):
        if isinstance(pcolls, beam.PCollection):
            pcolls = (pcolls,)
        return (
            tuple(pcolls)
            | "FlattenStats" >> beam.Flatten()
            | "AsPairs" >> beam.Map(lambda kv: (str(kv[0]), int(kv[1]))).with_output_types(
                beam.typehints.Tuple[str, int]
            )
            | "SumStats" >> beam.CombinePerKey(sum)
        )
