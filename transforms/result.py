"""The one result type of every build stage: main output, named side outputs, counters, dead letters, files.

Every stage PTransform (ingest, clean, dedupe, split, segment, vocab, examples) returns a
:class:`StageResult`, so the build walks a list of stages without knowing any stage's shape:

    r = docs | "Clean" >> CleanDocuments(cfg.clean, cfg.filter)
    r.main            # what the next stage reads (also r.kept: the main output's own name)
    r.side            # {"filtered": FILTERED rows}: named side outputs (table rows, manifest records)
    r.stats           # (counter name, n) pairs, or None for a stage that counts nothing
    r.dead_letters    # one dict per element that raised (transforms.dead_letters), or None
    r.files           # file records of files the stage wrote itself (vocab/), or None

``r.filtered``, ``r[STATS]`` and ``r[DEAD_LETTERS]`` read the same fields, and ``r | transform``
applies the transform to the main output, so a stage's result chains like a PCollection.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any, Mapping, NamedTuple

from transforms.dead_letters import DEAD_LETTERS
from transforms.stats import STATS

#: Name under which a stage declares that its *main* output is written as a table (see pipelines.build).
MAIN = "main"


class StageResult(NamedTuple):
    """What a stage returns; `name` is the main output's own name ("kept", "segments", ...).

    A NamedTuple so that Beam registers every PCollection in it as an output of the stage's composite
    transform (tags "main", "side.<name>", "stats", ...)."""

    main: Any
    name: str = MAIN
    side: Mapping[str, Any] = MappingProxyType({})
    stats: Any = None
    dead_letters: Any = None
    files: Any = None

    def output(self, name: str):
        """The main output (`name` is MAIN or its own name) or the side output `name`; KeyError otherwise."""
        if name in (MAIN, self.name):
            return self.main
        if name in self.side:
            return self.side[name]
        raise KeyError(f"stage result has no output {name!r} (main {self.name!r}, side {sorted(self.side)})")

    @property
    def pipeline(self):
        """The pipeline the stage was applied to."""
        return self.main.pipeline

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self.output(name)
        except KeyError as e:
            raise AttributeError(str(e)) from None

    def __getitem__(self, key):
        if not isinstance(key, str):
            return tuple.__getitem__(self, key)
        if key == STATS:
            return self.stats
        if key == DEAD_LETTERS:
            return self.dead_letters
        return self.output(key)

    def __or__(self, transform):
        return self.main | transform


def main_of(value):
    """`value`'s main output when it is a StageResult, else `value` itself (a PCollection)."""
    return value.main if isinstance(value, StageResult) else value
