"""The settings vpp reads from ``vpp.toml``, the environment and flags.

Every key is a field of a frozen dataclass below; its ``metadata`` holds the
one-line documentation (which ``vpp.example.toml`` is generated from) and the
range check. A key ``battery.efficiency`` is the field ``efficiency`` of the
``battery`` section, its environment variable is ``VPP_BATTERY_EFFICIENCY``.

Secrets (:class:`Secret`) are never read from the TOML file: they come from
the environment (``VPP_INFLUX_TOKEN``) or from a file named by the companion
key (``influx.token_file``), and their ``repr`` and ``str`` are masked.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

__all__ = [
    "SECTIONS",
    "AgentSettings",
    "BatterySettings",
    "Config",
    "InfluxSettings",
    "InputSettings",
    "KafkaSettings",
    "LogSettings",
    "McpSettings",
    "MetricsSettings",
    "ModelSettings",
    "Secret",
    "SitesSettings",
    "StoreSettings",
    "TwinSettings",
]

Check = Callable[[Any], str | None]


class Secret:
    """A secret string (a token or password) that never prints.

    Example:
        >>> s = Secret("user:password")
        >>> s, str(s), s.get()
        (Secret('****'), '****', 'user:password')
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the secret's value (pass it on; do not log it)."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('****')"

    def __str__(self) -> str:
        return "****"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


# -- checks: each returns None when the value is fine, else the problem ------
def _range(
    lo: float | None, hi: float | None, lo_open: bool = False, hi_open: bool = False
) -> Check:
    left = "(" if lo_open else "["
    right = ")" if hi_open or hi is None else "]"
    text = f"{left}{'-inf' if lo is None else _num(lo)}, {'inf' if hi is None else _num(hi)}{right}"

    def check(v: Any) -> str | None:
        if isinstance(v, float) and not math.isfinite(v):
            return "is not a finite number"
        if lo is not None and (v < lo or (lo_open and v == lo)):
            return f"is outside {text}"
        if hi is not None and (v > hi or (hi_open and v == hi)):
            return f"is outside {text}"
        return None

    return check


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _choices(*options: str) -> Check:
    def check(v: Any) -> str | None:
        return None if v in options else f"is not one of {', '.join(options)}"

    return check


def _nonempty(v: Any) -> str | None:
    return "must not be empty" if not str(v).strip() else None


_POSITIVE = _range(0, None, lo_open=True)
_NON_NEGATIVE = _range(0, None)
_FRACTION = _range(0, 1)
_PORT = _range(1, 65535)


def _key(default: Any, doc: str, check: Check | None = None) -> Any:
    meta = {"doc": doc, "check": check}
    if isinstance(default, dict):
        return field(default_factory=lambda: dict(default), metadata=meta)
    return field(default=default, metadata=meta)


# -- sections -----------------------------------------------------------------
@dataclass(frozen=True)
class SitesSettings:
    """Sites the service expects and the id used when data carries none."""

    ids: tuple[str, ...] = _key((), "site ids to expect; empty: whatever the data carries")
    default: str = _key("grid", "site id of events without a site column", _nonempty)


@dataclass(frozen=True)
class InputSettings:
    """The telemetry file and how its columns map onto the schema."""

    path: str | None = _key(None, "telemetry file (.csv or .parquet); unset: the command's default")
    units: str = _key("MW", "unit of the file's power columns: MW or kW", _choices("MW", "kW"))
    columns: dict[str, str] = _key(  # noqa: RUF009 (_key returns a field)
        {}, 'canonical name = your column, e.g. load_mw = "Electricity Load"'
    )


@dataclass(frozen=True)
class TwinSettings:
    """The grid digital twin, when a command simulates instead of reading a file."""

    days: float | None = _key(None, "days to simulate; unset: the twin's default", _POSITIVE)
    resolution: str | None = _key(None, "output step, e.g. 1s, 1min, 15min, 1h")
    sites: int | None = _key(None, "number of simulated sites", _range(1, None))
    seed: int | None = _key(None, "random seed (same seed, same data)", _NON_NEGATIVE)


@dataclass(frozen=True)
class BatterySettings:
    """The battery fleet: identical units, units_per_site of them at every site."""

    units_per_site: int = _key(1, "batteries at each site", _range(1, None))
    power_mw: float = _key(1.0, "charge and discharge power limit of one unit, MW", _POSITIVE)
    energy_mwh: float = _key(2.0, "energy capacity of one unit, MWh", _POSITIVE)
    efficiency: float = _key(
        0.9025,
        "round-trip efficiency in (0, 1], split evenly between charge and discharge",
        _range(0, 1, lo_open=True),
    )
    soc_min: float = _key(0.1, "lowest state of charge, fraction of capacity", _FRACTION)
    soc_max: float = _key(0.9, "highest state of charge, fraction of capacity", _FRACTION)
    start_soc: float = _key(
        0.5, "state of charge at start (a battery_soc_frac reading overrides it)", _FRACTION
    )
    derate_band: float = _key(
        0.0, "SoC width near each bound over which power derates to 0 (0: off)", _range(0, 0.5)
    )
    degradation_cost_per_mwh: float = _key(
        5.0, "wear cost per MWh of throughput, in price units", _NON_NEGATIVE
    )


@dataclass(frozen=True)
class AgentSettings:
    """Frequency response (default: GB Dynamic Containment) and the arbitrage trader."""

    contracted_mw: float = _key(
        0.0,
        "frequency-response power contracted for the whole fleet, MW (0: no service)",
        _NON_NEGATIVE,
    )
    nominal_hz: float = _key(50.0, "nominal grid frequency, Hz", _range(40, 70))
    deadband_hz: float = _key(0.015, "no response while |f - nominal| <= this, Hz", _NON_NEGATIVE)
    knee_hz: float = _key(0.2, "|f - nominal| of the droop knee, Hz", _POSITIVE)
    knee_fraction: float = _key(0.05, "response at the knee, fraction of contract", _FRACTION)
    full_hz: float = _key(0.5, "|f - nominal| from which full response is due, Hz", _POSITIVE)
    sustain_s: float = _key(900.0, "duration full response must be sustainable, s", _POSITIVE)
    arbitrage: bool = _key(True, "trade on price forecasts (false: hold SoC in its band)")
    plan_step_s: float = _key(3600.0, "trader's plan step and re-plan interval, s", _POSITIVE)
    horizon_steps: int = _key(48, "plan steps the trader looks ahead", _range(1, None))
    price_forecaster: str = _key(
        "profile",
        "trader's price forecaster: profile (built in: 14-day same-hour mean plus the "
        "current deviation fading over 12 h) or fundamental (load, solar and wind through "
        "a learnt merit order; needs those signals and 7 days of history)",
        _choices("profile", "fundamental"),
    )
    price_forecast_scope: str = _key(
        "fleet",
        "whose load, solar and wind the fundamental forecaster reads: fleet (one "
        "forecaster on the fleet's totals, for every site's trader) or site (one per site)",
        _choices("fleet", "site"),
    )
    published_forecasts: str = _key(
        "",
        "published day-ahead wind and solar forecasts the fundamental forecaster reads by "
        "issue time: a .csv/.parquet file (issued_at, valid_at, site, wind_mw, solar_mw, as "
        "vpp twin --forecasts-out writes), twin (vpp run --twin: the twin's own), or empty "
        "for none",
    )
    settlement_s: float = _key(3600.0, "settlement period of the market, s", _POSITIVE)
    soc_record_s: float = _key(
        900.0,
        "cadence of each unit's SoC records in event time, s (0: only at each batch's end)",
        _NON_NEGATIVE,
    )
    dispatch_tolerance_mw: float = _key(
        0.0,
        "re-record a unit's dispatch once its power moves more than this or stops, MW "
        "(0: every change of power or reason)",
        _NON_NEGATIVE,
    )


@dataclass(frozen=True)
class ModelSettings:
    """The forecasting model."""

    path: str | None = _key(None, "model directory (from vpp train); unset: models/default")
    target: str = _key("net_load_mw", "signal the model forecasts", _nonempty)
    horizon_steps: int = _key(1, "forecast horizon in steps", _range(1, None))


@dataclass(frozen=True)
class StoreSettings:
    """Where records go and where the MCP server and reports read them."""

    url: str | None = _key(
        None,
        "SQLite path, sqlite:///PATH or influx://HOST:PORT/DB; unset: $VPP_STORE "
        "or ./vpp-data/store.sqlite",
    )


@dataclass(frozen=True)
class KafkaSettings:
    """The Kafka cluster of ``vpp produce`` / ``vpp consume``."""

    brokers: str | None = _key(None, "bootstrap servers, HOST:PORT[,HOST:PORT]")
    group: str = _key("vpp", "consumer group id", _nonempty)
    topic: str = _key("grid.telemetry", "input topic", _nonempty)
    forecast_topic: str = _key("grid.forecast", "output topic of forecasts", _nonempty)
    dispatch_topic: str = _key("grid.dispatch", "output topic of dispatch records", _nonempty)
    dlq_topic: str = _key("grid.telemetry.dlq", "dead-letter topic of bad messages", _nonempty)
    checkpoint_interval_s: float = _key(
        1.0,
        "least time between two consumer checkpoints (state, then offset commit), s; "
        "0: after every poll; a crash replays about this much",
        _NON_NEGATIVE,
    )
    security_protocol: str = _key(
        "PLAINTEXT",
        "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
        _choices("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
    )
    sasl_mechanism: str | None = _key(None, "e.g. PLAIN or SCRAM-SHA-512")
    sasl_username: str | None = _key(None, "SASL user name")
    sasl_password: Secret | None = _key(  # noqa: RUF009
        None, "SECRET: env VPP_KAFKA_SASL_PASSWORD only"
    )
    sasl_password_file: str | None = _key(None, "file holding the SASL password")


@dataclass(frozen=True)
class InfluxSettings:
    """The InfluxDB that ``vpp consume`` writes to (v2 write API; 1.8, 2.x, 3.x)."""

    url: str | None = _key(None, "base URL, e.g. http://127.0.0.1:8086; unset: no InfluxDB")
    org: str = _key("-", "organisation ('-' on InfluxDB 1.8)")
    bucket: str = _key("vpp/autogen", "bucket ('database/retention' on 1.8)", _nonempty)
    token: Secret | None = _key(  # noqa: RUF009
        None, "SECRET: env VPP_INFLUX_TOKEN only ('user:password' on 1.8)"
    )
    token_file: str | None = _key(None, "file holding the InfluxDB token")


@dataclass(frozen=True)
class McpSettings:
    """The MCP server for AI assistants."""

    transport: str = _key("stdio", "stdio or http", _choices("stdio", "http"))
    host: str = _key("127.0.0.1", "HTTP bind address", _nonempty)
    port: int = _key(8000, "HTTP port", _PORT)
    token: Secret | None = _key(  # noqa: RUF009
        None, "SECRET: env VPP_MCP_TOKEN only (bearer token for HTTP)"
    )
    token_file: str | None = _key(None, "file holding the bearer token(s)")
    max_dispatch_mw: float | None = _key(
        None, "largest |power| dispatch_battery accepts, MW; unset: fleet limits", _POSITIVE
    )
    fleet_config: str | None = _key(
        None, "fleet JSON (vpp.mcp.fleet) the server acts on; unset: the store's fleet"
    )
    own_fleet: bool = _key(
        False, "the fleet_config fleet is separate from the pipeline's (own unit ids)"
    )


@dataclass(frozen=True)
class MetricsSettings:
    """The Prometheus endpoint of ``vpp consume`` and ``vpp mcp``."""

    port: int | None = _key(
        None, "port of /metrics; unset: no endpoint; 0: any free port", _range(0, 65535)
    )
    host: str = _key("127.0.0.1", "bind address of /metrics (0.0.0.0 in a container)", _nonempty)


@dataclass(frozen=True)
class LogSettings:
    """Log lines on stderr."""

    format: str = _key("text", "text or json", _choices("text", "json"))
    quiet: bool = _key(False, "warnings and errors only, no progress bars")


#: Section name → settings class, in the order of ``vpp.example.toml``.
SECTIONS: dict[str, type] = {
    "sites": SitesSettings,
    "input": InputSettings,
    "twin": TwinSettings,
    "battery": BatterySettings,
    "agents": AgentSettings,
    "model": ModelSettings,
    "store": StoreSettings,
    "kafka": KafkaSettings,
    "influx": InfluxSettings,
    "mcp": McpSettings,
    "metrics": MetricsSettings,
    "log": LogSettings,
}


@dataclass(frozen=True)
class Config:
    """All settings, with where each value came from.

    Attributes:
        sources: key (``"battery.efficiency"``) → where its value came from:
            ``"default"``, the TOML file's path, an environment variable
            name, or a flag.
        path: the TOML file read, if any.
    """

    sites: SitesSettings = field(default_factory=SitesSettings)
    input: InputSettings = field(default_factory=InputSettings)
    twin: TwinSettings = field(default_factory=TwinSettings)
    battery: BatterySettings = field(default_factory=BatterySettings)
    agents: AgentSettings = field(default_factory=AgentSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    store: StoreSettings = field(default_factory=StoreSettings)
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    influx: InfluxSettings = field(default_factory=InfluxSettings)
    mcp: McpSettings = field(default_factory=McpSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    log: LogSettings = field(default_factory=LogSettings)
    sources: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    path: str | None = field(default=None, compare=False)

    def get(self, key: str) -> Any:
        """Return the value of a dotted key such as ``"battery.efficiency"``.

        Raises:
            KeyError: no such key.
        """
        section, _, name = key.partition(".")
        if section not in SECTIONS or name not in _field_names(SECTIONS[section]):
            raise KeyError(key)
        return getattr(getattr(self, section), name)

    def source(self, key: str) -> str:
        """Where the value of ``key`` came from (``"default"`` if unset everywhere)."""
        return self.sources.get(key, "default")

    def to_dict(self, reveal_secrets: bool = False) -> dict[str, dict[str, Any]]:
        """The settings as nested plain values; secrets as ``"****"`` unless revealed."""
        out: dict[str, dict[str, Any]] = {}
        for section in SECTIONS:
            values = {}
            for f in fields(getattr(self, section)):
                v = getattr(getattr(self, section), f.name)
                if isinstance(v, Secret):
                    v = v.get() if reveal_secrets else str(v)
                elif isinstance(v, tuple):
                    v = list(v)
                values[f.name] = v
            out[section] = values
        return out

    # -- objects the rest of vpp takes --------------------------------------
    def battery_config(self) -> Any:
        """One unit as a :class:`vpp.agents.BatteryConfig`."""
        from vpp.agents import BatteryConfig

        b = self.battery
        return BatteryConfig.from_round_trip(
            b.power_mw,
            b.energy_mwh,
            b.efficiency,
            soc_min=b.soc_min,
            soc_max=b.soc_max,
            start_soc=b.start_soc,
            derate_band=b.derate_band,
            degradation_cost_per_mwh=b.degradation_cost_per_mwh,
        )

    def fleet_config(self, sites: list[str] | tuple[str, ...] | None = None) -> Any:
        """The fleet as a :class:`vpp.agents.FleetConfig`: ``units_per_site`` at every site.

        Args:
            sites: site ids; default ``sites.ids``, else ``(sites.default,)``.
        """
        from vpp.agents import FleetConfig

        ids = tuple(sites or self.sites.ids or (self.sites.default,))
        n = self.battery.units_per_site
        unit = self.battery_config()
        return FleetConfig(
            units=(unit,) * (n * len(ids)),
            unit_sites=tuple(i for i in range(len(ids)) for _ in range(n)),
            sites=ids,
        )

    def frequency_response_config(self) -> Any:
        """The contract as a :class:`vpp.agents.FrequencyResponseConfig`."""
        from vpp.agents import FrequencyResponseConfig

        a = self.agents
        return FrequencyResponseConfig(
            contracted_mw=a.contracted_mw,
            nominal_hz=a.nominal_hz,
            deadband_hz=a.deadband_hz,
            knee_hz=a.knee_hz,
            knee_fraction=a.knee_fraction,
            full_hz=a.full_hz,
            sustain_s=a.sustain_s,
        )

    def arbitrage_config(self) -> Any:
        """The trader as a :class:`vpp.agents.ArbitrageConfig`."""
        from vpp.agents import ArbitrageConfig

        a = self.agents
        return ArbitrageConfig(
            enabled=a.arbitrage, plan_step_s=a.plan_step_s, horizon_steps=a.horizon_steps
        )


def _field_names(cls: type) -> list[str]:
    return [f.name for f in fields(cls)]


def cross_checks(cfg: Config) -> list[tuple[list[str], str]]:
    """Checks between keys: (keys involved, problem) for every violation."""
    b, a = cfg.battery, cfg.agents
    out: list[tuple[list[str], str]] = []
    if b.soc_min >= b.soc_max:
        out.append(
            (
                ["battery.soc_min", "battery.soc_max"],
                f"battery.soc_min = {b.soc_min} must be below battery.soc_max = {b.soc_max}",
            )
        )
    elif not b.soc_min <= b.start_soc <= b.soc_max:
        out.append(
            (
                ["battery.start_soc"],
                f"battery.start_soc = {b.start_soc} is outside "
                f"[battery.soc_min, battery.soc_max] = [{b.soc_min}, {b.soc_max}]",
            )
        )
    if not a.deadband_hz < a.knee_hz < a.full_hz:
        out.append(
            (
                ["agents.deadband_hz", "agents.knee_hz", "agents.full_hz"],
                f"need agents.deadband_hz < agents.knee_hz < agents.full_hz, got "
                f"{a.deadband_hz} / {a.knee_hz} / {a.full_hz}",
            )
        )
    if a.contracted_mw > 0:
        fleet_mw = b.power_mw * b.units_per_site * max(len(cfg.sites.ids), 1)
        if a.contracted_mw > fleet_mw:
            out.append(
                (
                    ["agents.contracted_mw"],
                    f"agents.contracted_mw = {a.contracted_mw} exceeds the fleet's power "
                    f"({fleet_mw} MW = battery.power_mw x battery.units_per_site x sites)",
                )
            )
    if cfg.kafka.security_protocol.startswith("SASL") and not cfg.kafka.sasl_mechanism:
        out.append(
            (
                ["kafka.sasl_mechanism"],
                f"kafka.security_protocol = {cfg.kafka.security_protocol} "
                "needs kafka.sasl_mechanism",
            )
        )
    return out
