"""Charts as PNG bytes, drawn with matplotlib's Agg canvas (no display, no pyplot global state).

matplotlib is an optional extra (`pip install 'longlm-pipeline[report]'`); it is imported only when a
Charts object is made, and a clear ReportError says how to install it when it is missing.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from pipelines.corpus.report.load import ReportError
from pipelines.corpus.report.measure import FunnelRow

PALETTE = ["#2f6fad", "#e07b39", "#3a9e6f", "#8e5bb5", "#c94c4c", "#7a8a99"]
KIND_COLORS = {"read": "#5b7a99", "rejected": "#c94c4c", "cleaning": "#e0a030", "filtered": "#e07b39",
               "duplicates": "#8e5bb5", "kept": "#3a9e6f"}


@dataclass
class Panel:
    """One histogram axes: overlaid `series` of (label, values).

    discrete: integer values, one bar per value; log_x: log-spaced bins; density: normalise each series
    (for comparing samples of different sizes); vline: (label, x) reference line; ref: (label, xs, ys)
    reference curve drawn over the bars (in the same units: counts, or density when density=True)."""

    title: str
    xlabel: str
    series: list[tuple[str, np.ndarray]]
    discrete: bool = False
    log_x: bool = False
    density: bool = False
    vline: tuple[str, float] | None = None
    ref: tuple[str, np.ndarray, np.ndarray] | None = None
    bins: int = 40
    ylabel: str = field(default="")
    x_range: tuple[float, float] | None = None


class Charts:
    """Draws the report's charts. Making one imports matplotlib or raises ReportError."""

    def __init__(self):
        try:
            import matplotlib
            import matplotlib.ticker  # noqa: F401 - used as self._matplotlib.ticker
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ReportError(
                "charts need matplotlib, which is not installed: pip install 'longlm-pipeline[report]' "
                "(or run `longlm report --no-charts` for tables only)") from e
        self._Figure, self._Canvas = Figure, FigureCanvasAgg
        self._rc = {"font.size": 10, "axes.spines.top": False, "axes.spines.right": False,
                    "axes.titlesize": 11, "axes.titleweight": "bold", "legend.frameon": False}
        self._matplotlib = matplotlib

    def _figure(self, rows: int, cols: int, height: float = 3.4):
        fig = self._Figure(figsize=(11, height * rows), dpi=100)
        self._Canvas(fig)
        axes = fig.subplots(rows, cols, squeeze=False)
        return fig, axes

    def _png(self, fig) -> bytes:
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=100, metadata={"Software": None}, facecolor="white")
        return buf.getvalue()

    def _styled(self, draw):
        with self._matplotlib.rc_context(self._rc):
            return draw()

    def funnel(self, rows: list[FunnelRow]) -> bytes:
        """Two horizontal bar panels, documents and characters, on the same rows (read on top, kept at
        the bottom); a row with no value in a panel says "n/a" there."""
        def draw():
            fig, axes = self._figure(1, 2, height=max(2.6, 0.36 * len(rows) + 1.2))
            y = np.arange(len(rows))[::-1]
            colors = [KIND_COLORS.get(r.kind, "#999") for r in rows]
            for k, (attr, title) in enumerate((("documents", "Documents"), ("chars", "Characters"))):
                ax = axes[0][k]
                values = [getattr(r, attr) for r in rows]
                top = max([v for v in values if v is not None] + [0]) or 1
                ax.barh(y, [v or 0 for v in values], color=colors, height=0.7)
                ax.set_yticks(y, [r.label for r in rows] if k == 0 else [""] * len(rows))
                for yi, v in zip(y, values):
                    text = "n/a" if v is None else f"{v:,} ({100 * v / top:.1f}%)"
                    ax.text((v or 0) + top * 0.01, yi, text, va="center", fontsize=8.5,
                            color="#8a97a5" if v is None else "#1f2933")
                ax.set_xlim(0, top * 1.4)
                ax.set_title(title, loc="left")
                ax.xaxis.set_major_formatter(self._matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
                ax.xaxis.set_major_locator(self._matplotlib.ticker.MaxNLocator(4))
            return self._png(fig)

        return self._styled(draw)

    def bars(self, title: str, labels: list[str], values: list[float], xlabel: str, color: str = PALETTE[1]) -> bytes:
        """Horizontal bars, first label on top."""
        def draw():
            fig, axes = self._figure(1, 1, height=max(2.2, 0.36 * len(labels) + 1.0))
            ax = axes[0][0]
            y = np.arange(len(labels))[::-1]
            ax.barh(y, values, color=color)
            ax.set_yticks(y, labels)
            top = max(values) if values and max(values) > 0 else 1
            for yi, v in zip(y, values):
                ax.text(v + top * 0.01, yi, f"{v:,.0f}", va="center", fontsize=9)
            ax.set_xlim(0, top * 1.2)
            ax.set_xlabel(xlabel)
            ax.set_title(title, loc="left")
            return self._png(fig)

        return self._styled(draw)

    def panels(self, panels: list[Panel], cols: int = 2) -> bytes:
        """Histogram panels laid out `cols` to a row."""
        def draw():
            rows = (len(panels) + cols - 1) // cols
            fig, axes = self._figure(rows, cols)
            for i, ax in enumerate(axes.flat):
                if i < len(panels):
                    self._hist(ax, panels[i])
                else:
                    ax.set_visible(False)
            return self._png(fig)

        return self._styled(draw)

    def _hist(self, ax, p: Panel) -> None:
        values = [np.asarray(v, dtype=np.float64) for _, v in p.series]
        edges, log, discrete = _edges([v for v in values if len(v)], p)
        solid = sum(1 for v in values if len(v)) == 1
        for k, ((label, _), v) in enumerate(zip(p.series, values)):
            if not len(v):
                continue
            color = PALETTE[k % len(PALETTE)]
            weights = np.full(len(v), 1.0 / len(v)) if p.density else None
            if solid:
                ax.hist(v, bins=edges, weights=weights, color=color, alpha=0.85, rwidth=0.85 if discrete else None,
                        label=f"{label} (n={len(v):,})")
            else:  # outlines only: filled bars would blend where they overlap and match no legend colour
                ax.hist(v, bins=edges, weights=weights, color=color, histtype="step", linewidth=1.8,
                        label=f"{label} (n={len(v):,})")
        if p.ref is not None:
            label, xs, ys = p.ref
            ax.plot(xs, ys, "o-", color="#1f2933", markersize=3, linewidth=1.2, label=label)
        if p.vline is not None:
            ax.axvline(p.vline[1], color="#c94c4c", linestyle="--", linewidth=1.4, label=p.vline[0])
        if log:
            ticker = self._matplotlib.ticker
            ax.set_xscale("log")
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_title(p.title, loc="left")
        ax.set_xlabel(p.xlabel + (" (log scale)" if log else ""))
        ax.set_ylabel(p.ylabel or ("share of sample" if p.density else "count"))
        if any(len(v) for v in values) or p.ref is not None:
            ax.legend(fontsize=8)
        else:
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", color="#66788a")

    def rank_frequency(self, counts: np.ndarray) -> bytes:
        """Zipf plot of piece frequencies and the share of tokens the top-k pieces cover."""
        def draw():
            fig, axes = self._figure(1, 2, height=3.2)
            c = np.sort(counts[counts > 0])[::-1]
            ranks = np.arange(1, len(c) + 1)
            ax = axes[0][0]
            if len(c):
                ax.loglog(ranks, c, color=PALETTE[0])
            ax.set_title("Piece frequency by rank", loc="left")
            ax.set_xlabel("rank")
            ax.set_ylabel("occurrences in sample")
            ax = axes[0][1]
            if len(c):
                ax.semilogx(ranks, np.cumsum(c) / c.sum(), color=PALETTE[2])
            ax.set_ylim(0, 1.02)
            ax.set_title("Tokens covered by the top-k pieces", loc="left")
            ax.set_xlabel("k")
            ax.set_ylabel("share of tokens")
            return self._png(fig)

        return self._styled(draw)


def _edges(values: list[np.ndarray], p: Panel) -> tuple[np.ndarray, bool, bool]:
    """(shared bin edges for all series of a panel, log x axis?, one bar per integer value?)."""
    if p.x_range is not None:
        return np.linspace(p.x_range[0], p.x_range[1], p.bins + 1), False, False
    if not values:
        return np.linspace(0, 1, 2), False, False
    lo = min(float(v.min()) for v in values)
    hi = max(float(v.max()) for v in values)
    if p.vline is not None:
        lo, hi = min(lo, p.vline[1]), max(hi, p.vline[1])
    integral = all(np.array_equal(v, np.round(v)) for v in values)
    if p.discrete or (integral and hi - lo <= 60):
        lo_i, hi_i = int(np.floor(lo)), int(np.ceil(hi))
        if hi_i - lo_i < 10:  # a few values: widen the axis so bars keep a readable width
            pad = (10 - (hi_i - lo_i)) // 2
            lo_i, hi_i = (max(lo_i - pad, 0) if lo >= 0 else lo_i - pad), hi_i + pad
        step = max(1, int(np.ceil((hi_i - lo_i + 1) / 80)))
        return np.arange(lo_i - 0.5, hi_i + step + 0.5, step), False, True
    bins = int(np.clip(2 * np.sqrt(max(len(v) for v in values)), 10, p.bins))
    if p.log_x and lo >= 1 and hi / lo > 20:
        return np.geomspace(lo, hi, bins + 1), True, False
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return np.linspace(lo, hi, bins + 1), False, False
