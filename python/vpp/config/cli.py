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
file's, else the option's own default. The validated
:class:`~vpp.config.schema.Config` is also left on ``args.vpp_config`` for
settings that have no flag (the fleet, the agents).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from typing import Any

from vpp.config.loader import load_config
from vpp.config.schema import Config, Secret

__all__ = ["FLAG_KEYS", "add_config_arg", "apply_config"]

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
    "brokers": "kafka.brokers",
    "group": "kafka.group",
    "topic": "kafka.topic",
    "influx_url": "influx.url",
    "influx_org": "influx.org",
    "influx_bucket": "influx.bucket",
    "influx_token": "influx.token",
    "max_dispatch_mw": "mcp.max_dispatch_mw",
    "metrics_port": "metrics.port",
    "metrics_host": "metrics.host",
    "log_format": "log.format",
    "quiet": "log.quiet",
}

#: Keys that only make sense with a file input (skipped under ``--twin``).
_FILE_INPUT_KEYS = frozenset({"input.path", "input.columns", "input.units"})
_DEFAULTS_ATTR = "_vpp_flag_defaults"
_FLAGS_ATTR = "_vpp_flag_names"
_KEYS_ATTR = "_vpp_flag_keys"


def add_config_arg(
    parser: argparse.ArgumentParser, extra_keys: Mapping[str, str] | None = None
) -> None:
    """Add ``--config FILE`` and let the config fill this parser's options.

    Call it after the command's other options. Options mapped to config keys
    get ``None`` as their argparse default so that :func:`apply_config` can
    tell "not given" from "given"; their real defaults are kept aside.

    Args:
        parser: the subcommand's parser.
        extra_keys: more destination → key pairs for this command (e.g.
            ``{"port": "mcp.port"}``), added to :data:`FLAG_KEYS`.
    """
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="settings file (TOML; default: $VPP_CONFIG); flags win over the environment "
        "(VPP_<SECTION>_<KEY>), which wins over the file; see vpp.example.toml",
    )
    mapping = {**FLAG_KEYS, **(extra_keys or {})}
    defaults: dict[str, Any] = {}
    flags: dict[str, str] = {}
    for action in parser._actions:
        if action.dest in mapping:
            defaults[action.dest] = action.default
            flags[action.dest] = action.option_strings[0] if action.option_strings else action.dest
            action.default = None
    parser.set_defaults(**{_DEFAULTS_ATTR: defaults, _FLAGS_ATTR: flags, _KEYS_ATTR: mapping})


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
    defaults: dict[str, Any] = getattr(args, _DEFAULTS_ATTR, {}) or {}
    flags: dict[str, str] = getattr(args, _FLAGS_ATTR, {}) or {}
    twin = bool(getattr(args, "twin", False))
    overrides: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for dest, key in mapping.items():
        value = getattr(args, dest, None)
        if dest not in defaults or value is None:
            continue
        overrides[key] = _FROM_ARG[key](value) if key in _FROM_ARG else value
        labels[key] = flags.get(dest, dest)
    cfg = load_config(
        getattr(args, "config", None), env=env, overrides=overrides, override_sources=labels
    )
    for dest, key in mapping.items():
        if dest not in defaults or getattr(args, dest, None) is not None:
            continue
        # Under --twin the file's input settings do not apply (and would clash).
        if cfg.source(key) != "default" and not (twin and key in _FILE_INPUT_KEYS):
            value = cfg.get(key)
            setattr(args, dest, _TO_ARG[key](value) if key in _TO_ARG else value)
        else:
            setattr(args, dest, defaults[dest])
    args.vpp_config = cfg
    return cfg
