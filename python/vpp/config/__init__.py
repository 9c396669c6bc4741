"""One configuration for every vpp command: ``vpp.toml``, ``VPP_*`` variables, flags.

Precedence: a command-line flag beats the environment (``VPP_<SECTION>_<KEY>``),
which beats the TOML file (``--config`` or ``$VPP_CONFIG``), which beats the
default. Values are validated when loaded; messages name the key and where the
bad value came from. Secrets come only from the environment or a file and
never print.

Example:
    >>> cfg = load_config(env={"VPP_BATTERY_POWER_MW": "2.5"},
    ...                   overrides={"battery.energy_mwh": 5.0})
    >>> cfg.battery.power_mw, cfg.source("battery.power_mw")
    (2.5, 'VPP_BATTERY_POWER_MW')
    >>> cfg.battery.energy_mwh, cfg.source("battery.efficiency")
    (5.0, 'default')
    >>> try:
    ...     load_config(env={"VPP_BATTERY_EFFICIENCY": "1.4"})
    ... except ConfigError as exc:
    ...     print(exc)
    VPP_BATTERY_EFFICIENCY: battery.efficiency = 1.4 is outside (0, 1]
    >>> load_config(env={"VPP_INFLUX_TOKEN": "user:pass"}).influx.token
    Secret('****')
"""

from vpp.config.cli import FLAG_KEYS, MCP_FLAG_KEYS, add_config_arg, apply_config
from vpp.config.loader import CONFIG_ENV, ConfigError, env_name, example_toml, keys, load_config
from vpp.config.schema import (
    SECTIONS,
    AgentSettings,
    BatterySettings,
    Config,
    InfluxSettings,
    InputSettings,
    KafkaSettings,
    LogSettings,
    McpSettings,
    MetricsSettings,
    ModelSettings,
    Secret,
    SitesSettings,
    StoreSettings,
    TwinSettings,
)

__all__ = [
    "CONFIG_ENV",
    "FLAG_KEYS",
    "MCP_FLAG_KEYS",
    "SECTIONS",
    "AgentSettings",
    "BatterySettings",
    "Config",
    "ConfigError",
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
    "add_config_arg",
    "apply_config",
    "env_name",
    "example_toml",
    "keys",
    "load_config",
]
