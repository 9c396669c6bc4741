"""Reports: PNG figures and one HTML page that explain a backtest or a run.

``vpp report --from STORE|BACKTEST.json --out DIR`` (see
:mod:`vpp.cli.report_cmd`) reads :class:`ReportData` and calls
:func:`write_report`, which writes ``forecast.png``, ``frequency.png``,
``units.png``, ``arbitrage.png`` (those whose data exists) and
``index.html`` referencing them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vpp.report.data import PLOTS, ReportData, load_backtest_json, load_sources, load_store

__all__ = [
    "PLOTS",
    "ReportData",
    "ReportResult",
    "load_backtest_json",
    "load_sources",
    "load_store",
    "write_report",
]


@dataclass
class ReportResult:
    """Files a report wrote.

    Attributes:
        html: the page.
        images: plot name → PNG path.
        skipped: plot name → why it was not drawn.
    """

    html: Path
    images: dict[str, Path] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)


def write_report(data: ReportData, out_dir: str | Path, title: str = "vpp report") -> ReportResult:
    """Draw every plot whose data is present and write ``index.html``.

    Args:
        data: what to show.
        out_dir: folder for the page and the PNGs (created if needed).
        title: page title.
    """
    from vpp.report import plots
    from vpp.report.page import render_page

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    draw = {
        "forecast": plots.plot_forecast,
        "frequency": plots.plot_frequency,
        "units": plots.plot_units,
        "arbitrage": plots.plot_arbitrage,
    }
    images: dict[str, Path] = {}
    skipped = dict(data.notes)
    for name in PLOTS:
        series = data.series.get(name)
        path = out / f"{name}.png"
        if series is None:
            skipped.setdefault(name, "no data for this plot")
            path.unlink(missing_ok=True)  # a stale figure from an earlier report would mislead
            continue
        images[name] = draw[name](series, path)
        skipped.pop(name, None)
    extra = {}
    freq = data.series.get("frequency")
    if freq is not None and freq.get("measured"):
        extra["frequency"] = (
            f"Here only the measured frequency around the largest excursion "
            f"({freq.get('at')}) is shown: a store holds no run without the fleet; "
            "a backtest JSON with series.frequency gives the comparison."
        )
    page = render_page(
        title,
        data.sources,
        data.summary,
        {k: p.name for k, p in images.items()},
        skipped,
        PLOTS,
        extra,
    )
    html_path = out / "index.html"
    html_path.write_text(page, encoding="utf-8")
    return ReportResult(html=html_path, images=images, skipped=skipped)
