"""vpp report: PNG figures and an HTML page from a backtest JSON or a store."""

from __future__ import annotations

import json
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.report import PLOTS

VPP = [sys.executable, "-m", "vpp.cli.main"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (raises on a non-PNG)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_MAGIC, f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def vpp(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*VPP, *argv], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def backtest_json(tmp_path_factory) -> Path:
    """`vpp backtest --twin --json --series` on a week at 15 min: a real short backtest."""
    root = tmp_path_factory.mktemp("bt")
    argv = ["backtest", "--twin", "--days", "7", "--resolution", "15min", "--seed", "3"]
    out = vpp(*argv, "--battery-units", "4", "--json", "--series", "--quiet", cwd=root)
    assert out.returncode == 0, out.stderr
    path = root / "backtest.json"
    path.write_text(out.stdout)
    return path


@pytest.fixture(scope="module")
def run_store(tmp_path_factory) -> Path:
    """A store filled by `vpp run --days 1 --quiet`."""
    root = tmp_path_factory.mktemp("run")
    store = root / "store.sqlite"
    out = vpp("run", "--days", "1", "--quiet", "--store", str(store), cwd=root)
    assert out.returncode == 0, out.stderr
    return store


def _report(sources: list[Path], out: Path, *extra: str) -> dict:
    argv = ["report", "--out", str(out), "--quiet", *extra]
    for s in sources:
        argv += ["--from", str(s)]
    res = vpp(*argv)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _assert_page_references(html_path: Path, images: dict[str, str]) -> str:
    page = html_path.read_text()
    srcs = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(srcs) == sorted(Path(p).name for p in images.values())
    for src in srcs:
        assert (html_path.parent / src).is_file()  # relative references that resolve
    # Self-contained: no scripts, no stylesheets or images fetched from elsewhere.
    assert "<script" not in page and not re.search(r'(src|href)="(https?:)?//', page)
    return page


def test_backtest_json_gives_every_figure_and_a_page(backtest_json, tmp_path):
    out = tmp_path / "report"
    doc = _report([backtest_json], out)
    assert set(doc["images"]) == set(PLOTS) and doc["skipped"] == {}
    for path in doc["images"].values():
        width, height = png_size(Path(path))
        assert width >= 800 and height >= 300
        assert Path(path).stat().st_size > 10_000  # drawn curves, not an empty canvas
    page = _assert_page_references(Path(doc["html"]), doc["images"])
    summary = json.loads(backtest_json.read_text())
    # The headline and the table carry the backtest's own numbers.
    skill = summary["forecast"]["skill_vs_persistence"]
    assert f"{abs(skill) * 100:.1f}% {'better' if skill > 0 else 'worse'} than persistence" in page
    assert "capture_ratio" in page and "nadir_hz_with" in page


def test_profit_series_ends_at_the_backtest_profit(backtest_json):
    doc = json.loads(backtest_json.read_text())
    arb = doc["series"]["arbitrage"]
    assert arb["profit_cum"][-1] == pytest.approx(doc["arbitrage"]["profit"], rel=1e-9)
    assert arb["oracle_profit_cum"][-1] == pytest.approx(
        doc["arbitrage"]["oracle_profit"], rel=1e-6
    )
    freq = doc["series"]["frequency"]
    assert min(v for v in freq["with_hz"] if v is not None) == pytest.approx(
        doc["frequency_response"]["nadir_hz_with"], abs=1e-9
    )


def test_example_document_matches_its_own_summary():
    """The document behind the README's pictures (larger battery, 4 units)."""
    from vpp.report.backtest_series import twin_backtest_document

    doc = twin_backtest_document(days=4, resolution="15min", seed=1)
    assert set(doc["series"]) == set(PLOTS)
    arb = doc["series"]["arbitrage"]
    assert arb["profit_cum"][-1] == pytest.approx(doc["arbitrage"]["profit"], rel=1e-9)
    assert set(doc["series"]["units"]["soc_frac"]) == {f"unit{i}" for i in range(4)}


def test_backtest_without_prices_gives_the_forecast_series_only(tmp_path):
    data = Path(__file__).resolve().parents[1] / "data" / "kw_format_sample.csv"
    out = vpp(
        "backtest",
        "--input",
        str(data),
        "--units",
        "kW",
        "--columns",
        'load_mw="Electricity Load",solar_mw="Solar PV Output (kW)"',
        "--json",
        "--series",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert set(doc["series"]) == {"forecast"} and "arbitrage" not in doc
    fc = doc["series"]["forecast"]
    assert len(fc["ts_ns"]) == doc["forecast"]["events_scored"]
    path = tmp_path / "bt.json"
    path.write_text(out.stdout)
    res = _report([path], tmp_path / "r")
    assert set(res["images"]) == {"forecast"}
    assert res["skipped"]["arbitrage"] == "bt.json has no series.arbitrage section"


def test_missing_series_parts_are_skipped_with_the_reason(backtest_json, tmp_path):
    doc = json.loads(backtest_json.read_text())
    del doc["series"]["frequency"], doc["series"]["units"]
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps(doc))
    out = tmp_path / "report"
    out.mkdir()
    (out / "units.png").write_bytes(b"stale figure from an earlier report")
    res = _report([partial], out)
    assert set(res["images"]) == {"forecast", "arbitrage"}
    assert set(res["skipped"]) == {"frequency", "units"}
    assert not (out / "units.png").exists() and not (out / "frequency.png").exists()
    page = _assert_page_references(Path(res["html"]), res["images"])
    assert "Not shown: partial.json has no series.units section" in page


def test_store_from_vpp_run_reports_what_it_holds(run_store, tmp_path):
    res = _report([run_store], tmp_path / "report")
    assert set(res["images"]) | set(res["skipped"]) == set(PLOTS)
    assert not set(res["images"]) & set(res["skipped"])
    assert "frequency" in res["images"]  # the twin's telemetry has frequency
    for path in res["images"].values():
        png_size(Path(path))
    page = _assert_page_references(Path(res["html"]), res["images"])
    for reason in res["skipped"].values():
        assert f"Not shown: {reason}" in page.replace("&#x27;", "'")
    assert "1440" in page  # one day of minutes in the summary


def test_store_dispatch_is_valued_against_the_optimum(run_store, tmp_path):
    """Write the agents' real per-unit decisions into a copy of the store and report it."""
    from vpp.agents import AgentSet, BatteryConfig, FleetConfig, FrequencyResponseConfig
    from vpp.io import open_store

    store_path = tmp_path / "store.sqlite"
    with open_store(run_store, read_only=True) as src:
        tel = src.telemetry_range()
    with open_store(store_path) as dst:
        from vpp.io import Telemetry

        dst.write_telemetry(Telemetry.from_frame(tel.rename(columns={"ts_ns": "timestamp"})))
        battery = BatteryConfig.from_round_trip(1.0, 2.0, 0.9025)
        agents = AgentSet(FleetConfig.uniform(2, battery), FrequencyResponseConfig())
        disp, soc = [], []
        for t, f, p in tel[["ts_ns", "frequency_hz", "price_per_mwh"]].itertuples(index=False):
            agents.decide(int(t), 0, float(f), float(p))
            for u, (mw, s) in enumerate(
                zip(agents.unit_power_mw(), agents.unit_soc(), strict=True)
            ):
                disp.append((int(t), "grid", f"u{u}", float(mw), "agents", "agents"))
                soc.append((int(t), "grid", f"u{u}", float(s)))
        dst.write_dispatch(
            pd.DataFrame(disp, columns=["ts_ns", "site", "unit", "power_mw", "reason", "agent"])
        )
        dst.write_soc(pd.DataFrame(soc, columns=["ts_ns", "site", "unit", "soc_frac"]))
    res = _report([store_path], tmp_path / "report")
    assert {"units", "arbitrage", "frequency"} <= set(res["images"])

    from vpp.report import load_store

    data = load_store(str(store_path))
    arb = data.summary["arbitrage"]
    assert arb["units"] == 2 and arb["oracle_profit"] > 0
    # Perfect foresight over the same battery and settlement is an upper bound.
    assert arb["profit"] <= arb["oracle_profit"] * 1.02 + 1.0
    units = data.series["units"]
    assert set(units["soc_frac"]) == {"u0", "u1"}
    socs = np.concatenate(list(units["soc_frac"].values()))
    assert np.nanmin(socs) >= battery.soc_min - 1e-9 and np.nanmax(socs) <= battery.soc_max + 1e-9


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("[1, 2]", "expected a JSON object"), ("{oops", "not a JSON file")],
)
def test_bad_backtest_files_are_clear_errors(tmp_path, content, message):
    path = tmp_path / "bt.json"
    if content is not None:
        path.write_text(content)
    res = vpp("report", "--from", str(path), "--out", str(tmp_path / "r"))
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr


def test_unknown_site_is_a_clear_error(run_store, tmp_path):
    res = vpp("report", "--from", str(run_store), "--site", "mars", "--out", str(tmp_path))
    assert res.returncode == 2 and "--site 'mars'" in res.stderr


def test_page_escapes_text(backtest_json, tmp_path):
    res = _report([backtest_json], tmp_path / "r", "--title", "<script>alert(1)</script>")
    page = Path(res["html"]).read_text()
    assert "<script" not in page and "&lt;script&gt;" in page


def test_sparse_store_records_hold_until_the_next_one(tmp_path):
    """Dispatch written only when it changes (as vpp run does) is valued as held."""
    from vpp.io import Telemetry, open_store
    from vpp.report import load_store

    minute = 60_000_000_000
    ts = np.arange(120, dtype=np.int64) * minute
    tel = Telemetry(
        ts,
        np.full(ts.size, "grid", dtype=object),
        np.column_stack([np.full(ts.size, 100.0), np.full(ts.size, 50.0)]),
        ["load_mw", "price_per_mwh"],
    )
    store_path = tmp_path / "s.sqlite"
    with open_store(store_path) as store:
        store.write_telemetry(tel)
        # 1 MW discharge from minute 10, back to 0 at minute 70; a second unit
        # charges 0.5 MW from minute 30 to 90; SoC recorded only at changes.
        store.write_dispatch(
            pd.DataFrame(
                {
                    "ts_ns": [10 * minute, 70 * minute, 30 * minute, 90 * minute],
                    "site": "grid",
                    "unit": ["a", "a", "b", "b"],
                    "power_mw": [1.0, 0.0, -0.5, 0.0],
                    "reason": "test",
                    "agent": "test",
                }
            )
        )
        store.write_soc(
            pd.DataFrame(
                {"ts_ns": [0, 60 * minute], "site": "grid", "unit": "a", "soc_frac": [0.5, 0.2]}
            )
        )
    data = load_store(str(store_path))
    units = data.series["units"]
    soc_a = units["soc_frac"]["a"]
    assert np.nanmin(soc_a) == 0.2 and np.nanmax(soc_a) == 0.5  # held, never a made-up 0
    # Held power: 60 minutes of 1 MW discharged, 60 minutes of 0.5 MW charged, at 50/MWh,
    # less the default wear of 5 per MWh moved.
    expected = 50.0 * (1.0 - 0.5) - 5.0 * (1.0 + 0.5)
    assert data.summary["arbitrage"]["profit"] == pytest.approx(expected)


def test_profit_series_follows_the_chosen_price_forecaster(tmp_path):
    """With --price-forecaster fundamental the replayed trader gets the same
    hourly forecasts as the summary's, so the curve still ends at its profit."""
    argv = ["backtest", "--twin", "--days", "10", "--resolution", "1min", "--rounds", "20"]
    docs = {}
    for fc in ("fundamental", "profile"):
        out = vpp(*argv, "--price-forecaster", fc, "--json", "--series", "--quiet", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        docs[fc] = json.loads(out.stdout)
    fund = docs["fundamental"]
    assert fund["series"]["arbitrage"]["profit_cum"][-1] == pytest.approx(
        fund["arbitrage"]["profit"], rel=1e-9
    )
    assert fund["arbitrage"]["profit"] != pytest.approx(docs["profile"]["arbitrage"]["profit"])
