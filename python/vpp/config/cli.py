"""Apply the configuration to a command's parsed arguments.

A command calls :func:`add_config_arg` after adding its own options, then
:func:`apply_config` first thing in ``run(args)``::

    def register(sub):
        p = sub.add_parser("consume", ...)
        p.add_argument("--brokers")            # dest "brokers" ↔ kafka.brokers
        add_config_arg(p)                      # last: it sees every option
        p.set_defaults(func=run)

    def run(args):
        cfg = apply_config(args)               # fills unset options
        ...

An option whose destination is in :data:`FLAG_KEYS` takes the value of the
flag if one was given on the command line, else the environment's, else the
file's, else the option's own default (argparse defaults are untouched, so
parsing alone gives the usual values). The validated
:class:`~vpp.config.schema.Config` is also left on ``args.vpp_config`` for
settings that have no flag (the fleet, the agents).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from vpp.config.loader import load_config
from vpp.config.schema import Config, Secret

__all__ = ["FLAG_KEYS", "MCP_FLAG_KEYS", "add_config_arg", "apply_config"]

#: argparse destination → config key. Only destinations a command defines apply.
FLAG_KEYS: dict[str, str] = {
    "input": "input.path",
    "columns": "input.columns",
    "units": "input.units",
    "days": "twin.days",
    "resolution": "twin.resolution",
    "sites": "twin.sites",
    "seed": "twin.seed",
    "store": "store.url",
    "model": "model.path",
    "target": "model.target",
    "horizon": "model.horizon_steps",
    "battery_mw": "battery.power_mw",
    "battery_mwh": "battery.energy_mwh",
    "efficiency": "battery.efficiency",
    "degradation_cost": "battery.degradation_cost_per_mwh",
    "battery_units": "battery.units_per_site",
    "fr_mw": "agents.contracted_mw",
    "price_forecaster": "agents.price_forecaster",
    "price_forecast_scope": "agents.price_forecast_scope",
    "published_forecasts": "agents.published_forecasts",
    "brokers": "kafka.brokers",
    "group": "kafka.group",
    "topic": "kafka.topic",
    "forecast_topic": "kafka.forecast_topic",
    "dispatch_topic": "kafka.dispatch_topic",
    "dlq_topic": "kafka.dlq_topic",
    "checkpoint_interval_s": "kafka.checkpoint_interval_s",
    "influx_url": "influx.url",
    "influx_org": "influx.org",
    "influx_bucket": "influx.bucket",
    "influx_token": "influx.token",
    "influx_token_file": "influx.token_file",
    "max_dispatch_mw": "mcp.max_dispatch_mw",
    "metrics_port": "metrics.port",
    "metrics_host": "metrics.host",
    "log_format": "log.format",
    "quiet": "log.quiet",
}

#: ``vpp mcp``'s generic option names (passed as ``extra_keys``, not global).
MCP_FLAG_KEYS: dict[str, str] = {
    "transport": "mcp.transport",
    "host": "mcp.host",
    "port": "mcp.port",
    "token_file": "mcp.token_file",
    "fleet_config": "mcp.fleet_config",
    "own_fleet": "mcp.own_fleet",
}

#: Keys that only make sense with a file input (skipped under ``--twin``).
_FILE_INPUT_KEYS = frozenset({"input.path", "input.columns", "input.units"})
_GIVEN_ATTR = "_vpp_given"
_FLAGS_ATTR = "_vpp_flag_names"
_KEYS_ATTR = "_vpp_flag_keys"
_RECORDING: dict[type, type] = {}


def _recording(cls: type) -> type:
    """A subclass of an argparse action class that notes its dest as given."""
    if cls not in _RECORDING:

        def __call__(
            self: argparse.Action,
            parser: argparse.ArgumentParser,
            namespace: argparse.Namespace,
            values: Any,
            option_string: str | None = None,
        ) -> None:
            cls.__call__(self, parser, namespace, values, option_string)
            given = getattr(namespace, _GIVEN_ATTR, None)
            if given is None:
                given = set()
                setattr(namespace, _GIVEN_ATTR, given)
            given.add(self.dest)

        _RECORDING[cls] = type(f"Recording{cls.__name__}", (cls,), {"__call__": __call__})
    return _RECORDING[cls]


def add_config_arg(
    parser: argparse.ArgumentParser,
    extra_keys: Mapping[str, str] | None = None,
    skip: tuple[str, ...] = (),
) -> None:
    """Add ``--config FILE`` and let the config fill this parser's options.

    Call it after the command's other options. Options mapped to config keys
    keep their defaults; they only note, when parsed, that the user gave them,
    so that :func:`apply_config` can tell "given" from "default".

    Args:
        parser: the subcommand's parser.
        extra_keys: more destination → key pairs for this command (e.g.
            ``{"port": "mcp.port"}``), added to :data:`FLAG_KEYS`.
        skip: destinations the configuration must not fill for this command
            (an option whose meaning differs from the key's).
    """
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="settings file (TOML; default: $VPP_CONFIG); flags win over the environment "
        "(VPP_<SECTION>_<KEY>), which wins over the file; see vpp.example.toml",
    )
    mapping = {k: v for k, v in {**FLAG_KEYS, **(extra_keys or {})}.items() if k not in skip}
    flags: dict[str, str] = {}
    for action in parser._actions:
        if action.dest in mapping:
            flags[action.dest] = action.option_strings[0] if action.option_strings else action.dest
            action.__class__ = _recording(type(action))
    keys = {dest: mapping[dest] for dest in flags}
    # None, not a set: each parse makes its own set on the first given option.
    parser.set_defaults(**{_GIVEN_ATTR: None, _FLAGS_ATTR: flags, _KEYS_ATTR: keys})


def _columns_to_arg(mapping: dict[str, str]) -> list[str] | None:
    if not mapping:
        return None
    return [",".join(f'{k}="{v}"' for k, v in mapping.items())]


def _columns_from_arg(values: list[str]) -> dict[str, str]:
    from vpp.io import parse_columns_option

    out: dict[str, str] = {}
    for text in values:
        out.update(parse_columns_option(text))
    return out


#: Conversions between an option's value and the key's value, where they differ.
_TO_ARG: dict[str, Callable[[Any], Any]] = {
    "input.columns": _columns_to_arg,
    "influx.token": lambda s: s.get() if isinstance(s, Secret) else s,
}
_FROM_ARG: dict[str, Callable[[Any], Any]] = {"input.columns": _columns_from_arg}


def apply_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> Config:
    """Load the configuration and fill the options the user did not give.

    Args:
        args: parsed arguments of a parser prepared by :func:`add_config_arg`
            (without it, only ``--config``-less loading happens and no option
            is touched).
        env: environment (default ``os.environ``).

    Returns:
        The validated :class:`Config` (also set as ``args.vpp_config``).

    Raises:
        vpp.config.ConfigError: any invalid setting, naming the key and where
            the value came from (a flag, an environment variable or the file).
    """
    mapping: dict[str, str] = getattr(args, _KEYS_ATTR, {}) or {}
    given: set[str] = getattr(args, _GIVEN_ATTR, None) or set()
    flags: dict[str, str] = getattr(args, _FLAGS_ATTR, {}) or {}
    twin = bool(getattr(args, "twin", False))
    overrides: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for dest, key in mapping.items():
        value = getattr(args, dest, None)
        if dest not in given or value is None:
            continue
        overrides[key] = _FROM_ARG[key](value) if key in _FROM_ARG else value
        labels[key] = flags.get(dest, dest)
    cfg = load_config(
        getattr(args, "config", None), env=env, overrides=overrides, override_sources=labels
    )
    for dest, key in mapping.items():
        if dest in given or cfg.source(key) == "default":
            continue  # the flag, or the option's own default, stands
        # Under --twin the file's input settings do not apply (and would clash).
        if twin and key in _FILE_INPUT_KEYS:
            continue
        value = cfg.get(key)
        setattr(args, dest, _TO_ARG[key](value) if key in _TO_ARG else value)
    args.vpp_config = cfg
    return cfg
