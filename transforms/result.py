"""The one result type of every build stage: main output, named side outputs, counters, dead letters, files.

Every stage PTransform (ingest, clean, dedupe, split, segment, vocab, examples) returns a
:class:`StageResult`, so the build walks a list of stages without knowing any stage's shape:

    r = docs | "Clean" >> CleanDocuments(cfg.clean, cfg.filter)
    r.main            # what the next stage reads; r.main_name is its own name ("kept", "segments")
    r.side            # {"filtered": FILTERED rows}: named side outputs (table rows, manifest records)
    r.stats           # (counter name, n) pairs, or None for a stage that counts nothing
    r.dead_letters    # one dict per element that raised (transforms.dead_letters), or None
    r.files           # file records of files the stage wrote itself (vocab/), or None
    r.output("filtered")  # an output by name: MAIN, the main output's own name, or a side output
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

#: Name under which a stage declares that its *main* output is written as a table (see pipelines.build.stages).
MAIN = "main"


class StageResult(NamedTuple):
    """What a stage returns; `main_name` is the main output's own name ("kept", "segments", ...).

    A NamedTuple so that Beam registers every PCollection in it as an output of the stage's composite
    transform (tags "main", "side.<name>", "stats", ...)."""

    main: Any
    main_name: str = MAIN
    side: Mapping[str, Any] = MappingProxyType({})
    stats: Any = None
    dead_letters: Any = None
    files: Any = None

    def output(self, name: str):
        """The main output (`name` is MAIN or its own name) or the side output `name`; KeyError otherwise."""
        if name in (MAIN, self.main_name):
            return self.main
        if name in self.side:
            return self.side[name]
        raise KeyError(f"stage result has no output {name!r} (main {self.main_name!r}, side {sorted(self.side)})")

    @property
    def pipeline(self):
        """The pipeline the stage was applied to."""
        return self.main.pipeline


def main_of(value):
    """`value`'s main output when it is a StageResult, else `value` itself (a PCollection)."""
    return value.main if isinstance(value, StageResult) else value
