"""`longlm report DIR`: a look at a built corpus, from its manifest and output shards alone.

Writes DIR/report/index.html (self-contained: charts embedded as PNG data URIs, no scripts, nothing
fetched from the network), DIR/report/summary.md and the chart PNGs beside them. Nothing is rebuilt:
a corpus built on Dataflow and copied back (or still on gs://) reports the same. Each section says
"not built" for the parts of the build it needs that are absent, so the report works at every stage.

Parts: load (I/O), data (one corpus, read lazily), measure (pure statistics), vocab (sentencepiece +
T5 sentinels), charts (matplotlib, optional), sections / losses / token_sections / compare (the content),
doc (the blocks a section holds) and render (the Jinja2 templates in templates/: HTML page, Markdown summary).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from apache_beam.io.filesystems import FileSystems

from pipelines.corpus.report.data import CorpusData, Options
from pipelines.corpus.report.doc import Para, Report, Section
from pipelines.corpus.report.load import Corpus, ReportError
from pipelines.corpus.report.render import to_html, to_markdown

LOG = logging.getLogger("longlm.report")
HTML_NAME = "index.html"
MARKDOWN_NAME = "summary.md"
#: Every chart file a report may write; an earlier report's charts that this one lacks are deleted.
CHART_NAMES = ("funnel.png", "doc_length.png", "cleaning_rules.png", "duplicate_clusters.png", "token_lengths.png",
               "masking.png", "pieces.png", "compare.png")

__all__ = ["Options", "ReportError", "Written", "make_report", "write_report"]


@dataclass
class Written:
    """Paths written, and the sections that failed (their error is shown in the report too)."""

    html: str
    markdown: str
    images: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _builders(compare_data: CorpusData | None):
    from pipelines.corpus.report import compare, decontam, losses, sections, token_sections

    out = []
    if compare_data is not None:
        out.append(("compare", "Comparison", lambda ctx: compare.compare_section(ctx, compare_data)))
    return out + [
        ("funnel", "Accounting funnel", sections.funnel_section),
        ("losses", "Losses per filter and dedupe kind", losses.losses_section),
        ("decontamination", "Decontamination", decontam.decontamination_section),
        ("documents", "Documents: length, cleaning, duplicates", sections.documents_section),
        ("tokens", "Examples: token lengths and masking", token_sections.example_stats_section),
        ("vocab", "Vocabulary", token_sections.vocab_section),
        ("samples", "Decoded examples", token_sections.samples_section),
        ("provenance", "Provenance", sections.provenance_section),
    ]


def make_report(root: str, compare: str | None = None, options: Options = Options()) -> tuple[Report, list[str]]:
    """Build the report of corpus `root` (compared with corpus `compare` when given).

    Raises ReportError when `root` has no manifest or charts are wanted without matplotlib. A section
    that fails is replaced by its error message and listed in the returned errors.
    """
    from pipelines.corpus.report.sections import Context, tiles

    corpus = Corpus(root)
    other = CorpusData(Corpus(compare), options) if compare else None
    charts = None
    if options.charts:
        from pipelines.corpus.report.charts import Charts

        charts = Charts()
    verify_report = None
    if options.verify:
        from pipelines.corpus.verify import verify_chain

        verify_report = verify_chain(corpus.root)
    ctx = Context(CorpusData(corpus, options), charts, verify_report)
    built, errors = [], []
    for sid, title, build in _builders(other):
        try:
            built.append(build(ctx))
        except Exception as e:  # noqa: BLE001 - one broken part must not hide the rest of the report
            LOG.exception("report section %s failed", title)
            errors.append(f"{title}: {type(e).__name__}: {e}")
            built.append(Section(sid, title, [Para(f"This section could not be made: {type(e).__name__}: {e}", "bad")],
                                 status="error"))
    try:
        top = tiles(ctx)
    except Exception as e:  # noqa: BLE001
        errors.append(f"overview: {type(e).__name__}: {e}")
        top = [("version", corpus.version_id, "")]
    name = corpus.config.get("name") or corpus.name
    title = f"Corpus report: {name} {corpus.version_id}"
    subtitle = f"{corpus.root}" + (f" compared with {other.corpus.root}" if other else "")
    return Report(title, subtitle, top, built), errors


def _remove_stale_charts(out_dir: str, keep: set[str]) -> None:
    """Delete charts of an earlier report that this one does not have (only names in CHART_NAMES)."""
    stale = [FileSystems.join(out_dir, n) for n in CHART_NAMES if n not in keep]
    stale = [p for p in stale if FileSystems.exists(p)]
    if stale:
        FileSystems.delete(stale)


def write_report(root: str, compare: str | None = None, output: str | None = None,
                 options: Options = Options()) -> Written:
    """Write index.html, summary.md and the chart PNGs to `output` (default DIR/report)."""
    from transforms.atomic_files import write_atomically

    report, errors = make_report(root, compare, options)
    out_dir = (output or FileSystems.join(root.rstrip("/"), "report")).rstrip("/")
    if not FileSystems.exists(out_dir):
        FileSystems.mkdirs(out_dir)
    figures = report.figures()
    unknown = {f.name for f in figures} - set(CHART_NAMES)
    if unknown:
        raise RuntimeError(f"chart names missing from CHART_NAMES: {sorted(unknown)}")
    _remove_stale_charts(out_dir, {f.name for f in figures})
    images = []
    for fig in figures:
        path = FileSystems.join(out_dir, fig.name)
        write_atomically(path, fig.png)
        images.append(path)
    html_path, md_path = FileSystems.join(out_dir, HTML_NAME), FileSystems.join(out_dir, MARKDOWN_NAME)
    write_atomically(html_path, to_html(report).encode("utf-8"))
    write_atomically(md_path, to_markdown(report).encode("utf-8"))
    return Written(html_path, md_path, images, errors)
