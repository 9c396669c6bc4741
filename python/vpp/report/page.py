"""The report's HTML page: headline findings, the summary table, the figures.

The page is one self-contained file (inline CSS, no scripts, no network) that
references the PNGs written beside it by relative path, so the folder can be
zipped, mailed or served as is.
"""

from __future__ import annotations

import datetime as dt
import html
import math
from typing import Any

__all__ = ["CAPTIONS", "GLOSSARY", "headlines", "render_page", "summary_rows"]

#: What each summary number means, for a reader who did not run the backtest.
GLOSSARY: dict[str, str] = {
    "events": "telemetry events in the run",
    "sites": "sites in the data",
    "signals": "signals in the data",
    "train_events": "events the model was trained on (the first part, in time order)",
    "test_events": "events scored walk-forward after the cut (out of sample)",
    "split_at": "time of the cut between training and test",
    "target": "signal forecast",
    "horizon_steps": "how many steps ahead each forecast looks",
    "mae": "mean absolute error of the point forecast (same unit as the target)",
    "rmse": "root-mean-square error (punishes large misses more than MAE)",
    "persistence_mae": "MAE of 'the next value equals the current one'",
    "seasonal_naive_mae": "MAE of 'the value equals the same time yesterday'",
    "skill_vs_persistence": "1 − MAE / persistence MAE; above 0 beats persistence",
    "skill_vs_seasonal_naive": "1 − MAE / seasonal-naive MAE; above 0 beats it",
    "interval_coverage": "share of actual values inside the forecast interval "
    "(an 80% interval should cover about 0.8)",
    "pinball_loss": "quantile loss averaged over the quantiles (lower is better)",
    "compared": "forecasts whose target time has telemetry",
    "profit": "the agents' trading profit net of battery wear",
    "oracle_profit": "the best possible profit with perfect knowledge of prices",
    "capture_ratio": "profit / optimal profit (studies report 0.5-0.9)",
    "cycles": "full equivalent discharge cycles",
    "degradation_cost": "wear cost of the energy moved",
    "compliance": "share of event time the fleet delivered what the droop curve required",
    "nadir_hz_without": "lowest frequency after the event without the fleet",
    "nadir_hz_with": "lowest frequency after the event with the fleet",
    "max_rocof_without": "steepest frequency change without the fleet, Hz/s",
    "max_rocof_with": "steepest frequency change with the fleet, Hz/s",
    "largest_deviation_hz": "largest distance from nominal frequency in the data",
    "records": "records in the store by kind",
}

#: How to read each figure.
CAPTIONS: dict[str, tuple[str, str]] = {
    "forecast": (
        "Forecast against actual",
        "Black is what happened; blue is what the model forecast for that moment, "
        "with the shaded band its interval. A good model tracks the black line and "
        "the band holds the black line about as often as its nominal level says.",
    ),
    "frequency": (
        "Frequency around an event",
        "After a sudden loss of generation the frequency falls until the system's "
        "inertia and reserves arrest it (the nadir, marked). Red is the grid alone; "
        "green is the same event with the battery fleet responding on its droop "
        "curve: a higher nadir and a gentler fall mean the fleet helped.",
    ),
    "units": (
        "Batteries: state of charge and dispatch",
        "Top: each unit's state of charge (black: fleet mean). Bottom: the power "
        "each unit delivered, positive when discharging into the grid (black: fleet "
        "total). Charging in cheap hours and discharging in dear ones shows as "
        "daily cycles.",
    ),
    "arbitrage": (
        "Arbitrage profit against perfect foresight",
        "Blue is the agents' cumulative profit from trading at the market price, "
        "net of wear; dashed orange is the most any schedule of the same battery "
        "could have earned knowing all prices in advance. The gap is the price of "
        "not knowing the future; grey is the price itself.",
    ),
}

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;
 color:#1d2430;background:#f6f7f9}
main{max-width:1080px;margin:0 auto;padding:24px 28px 48px;background:#fff}
h1{font-size:1.6em;margin:0 0 4px}h2{font-size:1.2em;margin:28px 0 8px;
 border-bottom:1px solid #dde1e7;padding-bottom:4px}
.meta{color:#5b6472;font-size:.9em}
ul.headlines li{margin:4px 0}
table{border-collapse:collapse;width:100%;font-size:.92em}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #e6e9ee;vertical-align:top}
th{background:#eef1f5}td.num{font-variant-numeric:tabular-nums;overflow-wrap:anywhere}
col.c1{width:11%}col.c2{width:21%}col.c3{width:24%}col.c4{width:44%}
td.sec{color:#5b6472}
figure{margin:12px 0 24px}figure img{max-width:100%;border:1px solid #e6e9ee}
figcaption{color:#3d4653;font-size:.92em;margin-top:6px}
.note{background:#fff7e0;border-left:4px solid #e0b000;padding:8px 12px;margin:8px 0;
 font-size:.92em}
"""


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if not math.isfinite(value):
            return "–"
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.4g}"
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 100 else f"{value:,.1f}"
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


def summary_rows(summary: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(section, key, value, meaning) for every number in the summary."""
    rows: list[tuple[str, str, str, str]] = []
    for key, value in summary.items():
        if isinstance(value, dict) and key not in ("records",):
            for k, v in value.items():
                rows.append((key, k, _fmt(v), GLOSSARY.get(k, "")))
        else:
            rows.append(("run", key, _fmt(value), GLOSSARY.get(key, "")))
    return rows


def _num(d: Any, key: str) -> float | None:
    v = d.get(key) if isinstance(d, dict) else None
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def headlines(summary: dict[str, Any]) -> list[str]:
    """Plain-language findings from the summary numbers that are present."""
    out: list[str] = []
    fc = summary.get("forecast")
    fc = fc if isinstance(fc, dict) else {}
    mae, skill = _num(fc, "mae"), _num(fc, "skill_vs_persistence")
    if mae is not None:
        text = (
            f"Forecasting {fc.get('target', 'the target')} {fc.get('horizon_steps', 1)} "
            f"step(s) ahead, the model's mean absolute error is {_fmt(mae)}"
        )
        if skill is not None:
            verdict = "better" if skill > 0 else "worse"
            text += f", {abs(skill) * 100:.1f}% {verdict} than persistence"
        out.append(text + ".")
    cov = _num(fc, "interval_coverage")
    if cov is not None:
        out.append(f"The forecast interval held the actual value {cov * 100:.1f}% of the time.")
    arb = summary.get("arbitrage")
    profit, oracle = _num(arb, "profit"), _num(arb, "oracle_profit")
    if profit is not None and oracle is not None:
        ratio = _num(arb, "capture_ratio")
        share = f" ({ratio * 100:.0f}% of it)" if ratio is not None else ""
        out.append(
            f"Trading earned {_fmt(profit)} against a perfect-foresight optimum of "
            f"{_fmt(oracle)}{share}."
        )
    fr = summary.get("frequency_response")
    n0, n1 = _num(fr, "nadir_hz_without"), _num(fr, "nadir_hz_with")
    if n0 is not None and n1 is not None:
        out.append(
            f"In the generator-trip test the fleet moved the frequency nadir from "
            f"{n0:.3f} Hz to {n1:.3f} Hz ({(n1 - n0) * 1000:+.1f} mHz)."
        )
    comp = _num(fr, "compliance")
    if comp is not None:
        out.append(
            f"The fleet met its frequency-response obligation {comp * 100:.2f}% of the time."
        )
    return out


def render_page(
    title: str,
    sources: list[str],
    summary: dict[str, Any],
    images: dict[str, str],
    notes: dict[str, str],
    order: tuple[str, ...],
    extra_captions: dict[str, str] | None = None,
) -> str:
    """The HTML text of the report.

    Args:
        title: page title.
        sources: what the report was made from.
        summary: nested summary numbers.
        images: plot name → PNG file name relative to the page.
        notes: plot name → why it is missing.
        order: plot names in page order.
        extra_captions: plot name → a sentence added to its caption.
    """
    e = html.escape
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{e(title)}</h1>",
        f'<p class="meta">From {e(", ".join(sources))} · generated {now}</p>',
    ]
    found = headlines(summary)
    if found:
        parts.append("<h2>In short</h2><ul class='headlines'>")
        parts += [f"<li>{e(h)}</li>" for h in found]
        parts.append("</ul>")
    parts.append(
        "<h2>Summary</h2><table><colgroup><col class='c1'><col class='c2'><col class='c3'>"
        "<col class='c4'></colgroup><tr><th>part</th><th>measure</th><th>value</th>"
        "<th>meaning</th></tr>"
    )
    for sec, key, value, meaning in summary_rows(summary):
        parts.append(
            f"<tr><td class='sec'>{e(sec)}</td><td>{e(key)}</td>"
            f"<td class='num'>{e(value)}</td><td>{e(meaning)}</td></tr>"
        )
    parts.append("</table>")
    for name in order:
        heading, caption = CAPTIONS[name]
        parts.append(f"<h2>{e(heading)}</h2>")
        if name in images:
            extra = (extra_captions or {}).get(name)
            parts.append(
                f'<figure><img src="{e(images[name])}" alt="{e(heading)}">'
                f"<figcaption>{e(caption)}{' ' + e(extra) if extra else ''}</figcaption></figure>"
            )
        else:
            parts.append(
                f"<p class='note'>Not shown: {e(notes.get(name, 'no data for this plot'))}.</p>"
            )
    parts.append("</main></body></html>")
    return "\n".join(parts) + "\n"
