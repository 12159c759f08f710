"""The last step of a build: gather file records, counters and input fingerprints into manifest.json."""

from __future__ import annotations

from importlib import metadata

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import manifest as mf
from transforms.atomic_files import write_atomically

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


class WriteManifest(beam.PTransform):
    """(file records, counters, input fingerprints) -> DIR/manifest.json, written once all three are complete.

    File records come as data from whatever wrote the files (the table writers, the vocab stage), so the
    manifest waits for every file by its side inputs alone.
    """

    def __init__(self, output_root: str, config: dict, input_patterns: list[str], skipped_inputs: list[str] = (),
                 chain: dict | None = None):
        super().__init__()
        self._root, self._config, self._patterns = output_root.rstrip("/"), config, list(input_patterns)
        self._skipped, self._chain = sorted(skipped_inputs), chain

    def expand(self, pcolls):
        files, stats, inputs = pcolls
        root, config, patterns, skipped, chain = self._root, self._config, self._patterns, self._skipped, self._chain

        def write(_, files, stats, inputs):
            manifest = mf.build_manifest(
                config=config, inputs=list(inputs), files=list(files), stats=dict(stats),
                packages=package_versions(), input_patterns=patterns, skipped_inputs=skipped, chain=chain,
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
            )
        )
