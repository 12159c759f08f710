"""The last step of a build: gather file records, counters and input fingerprints into manifest.json."""

from __future__ import annotations

import hashlib
from importlib import metadata

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import manifest as mf
from transforms.shard_writer import write_atomically

#: Distributions whose versions decide the bytes of the output; recorded in the manifest.
RECORDED_PACKAGES = (
    "longlm-pipeline", "apache-beam", "pyarrow", "numpy", "regex", "sentencepiece", "jieba", "datasketch", "opencc",
)


def package_versions(names=None) -> dict[str, str]:
    """{distribution: installed version or 'not installed'} for `names` (default: RECORDED_PACKAGES)."""
    out = {}
    for name in RECORDED_PACKAGES if names is None else names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def extra_file_record(output_root: str, relative: str) -> dict:
    """File record (no table, no rows) for a non-Parquet output such as vocab/spiece.model."""
    with FileSystems.open(FileSystems.join(output_root, relative)) as f:
        data = f.read()
    return {"path": relative, "table": None, "rows": None, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


class WriteManifest(beam.PTransform):
    """Write DIR/manifest.json once every file record, counter and input fingerprint is known.

    `extra_files` are paths (relative to the output) written outside the table writer (the vocab);
    `after` is a PCollection whose completion they depend on.
    """

    def __init__(self, output_root: str, config: dict, input_patterns: list[str], extra_files=(), after=None):
        super().__init__()
        self._root, self._config, self._patterns = output_root.rstrip("/"), config, list(input_patterns)
        self._extra, self._after = tuple(extra_files), after

    def expand(self, pcolls):
        files, stats, inputs = pcolls
        root, config, patterns, extra = self._root, self._config, self._patterns, self._extra
        after = self._after if self._after is not None else files

        def write(_, files, stats, inputs, after):
            records = list(files) + [extra_file_record(root, rel) for rel in extra]
            manifest = mf.build_manifest(
                config=config, inputs=list(inputs), files=records, stats=dict(stats),
                packages=package_versions(), input_patterns=patterns,
            )
            write_atomically(FileSystems.join(root, mf.MANIFEST_NAME), mf.dumps(manifest))
            yield manifest

        return (
            files.pipeline
            | "ManifestTrigger" >> beam.Create([None])
            | "WriteManifest" >> beam.FlatMap(
                write,
                files=beam.pvalue.AsList(files),
                stats=beam.pvalue.AsList(stats),
                inputs=beam.pvalue.AsList(inputs),
                after=beam.pvalue.AsList(after),
            )
        )
