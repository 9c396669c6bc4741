"""Load :class:`~vpp.config.schema.Config` from defaults, a TOML file, the
environment and explicit overrides (flags), in rising order of precedence.

Every problem found is reported at once, each line naming where the value came
from and the key, e.g. ``vpp.toml: battery.efficiency = 1.4 is outside (0, 1]``.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vpp.config.schema import SECTIONS, Config, Secret, cross_checks
from vpp.errors import ParameterError

__all__ = [
    "CONFIG_ENV",
    "ConfigError",
    "env_name",
    "example_toml",
    "format_value",
    "keys",
    "load_config",
]

#: Environment variable naming the TOML file.
CONFIG_ENV = "VPP_CONFIG"

#: Older environment names still honoured (below the ``VPP_<SECTION>_<KEY>`` name).
_ENV_ALIASES: dict[str, tuple[str, ...]] = {"store.url": ("VPP_STORE",)}

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


class ConfigError(ParameterError):
    """One or more settings are invalid; the message has one line per problem."""


def env_name(key: str) -> str:
    """The environment variable of a key: ``battery.efficiency`` → ``VPP_BATTERY_EFFICIENCY``."""
    return "VPP_" + key.replace(".", "_").upper()


def keys() -> dict[str, dataclasses.Field[Any]]:
    """Every dotted key → its dataclass field, in file order."""
    return {
        f"{section}.{f.name}": f
        for section, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
    }


def _kind(f: dataclasses.Field[Any]) -> tuple[str, bool]:
    """(base type name, optional) from the field's annotation string."""
    text = str(f.type).replace(" ", "")
    optional = text.endswith("|None")
    base = text.removesuffix("|None")
    return {"tuple[str,...]": "list", "dict[str,str]": "map"}.get(base, base), optional


def format_value(value: Any) -> str:
    """A value as TOML-like text for messages (secrets as ``****``)."""
    if isinstance(value, Secret):
        return "****"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(format_value(v) for v in value) + "]"
    return repr(value)


def _coerce(value: Any, kind: str, from_text: bool) -> tuple[Any, str | None]:
    """Convert a TOML value (or, with ``from_text``, an env string) to ``kind``."""
    if kind == "Secret":
        return (Secret(str(value)), None) if isinstance(value, str) else (None, "is not a string")
    if from_text:
        text = str(value).strip()
        if kind == "bool":
            low = text.lower()
            if low in _TRUE | _FALSE:
                return low in _TRUE, None
            return None, "is not a boolean (true/false, 1/0, yes/no, on/off)"
        if kind == "int":
            try:
                return int(text), None
            except ValueError:
                return None, "is not an integer"
        if kind == "float":
            try:
                return float(text), None
            except ValueError:
                return None, "is not a number"
        if kind == "list":
            return tuple(s.strip() for s in text.split(",") if s.strip()), None
        if kind == "map":
            from vpp.io import parse_columns_option

            try:
                return parse_columns_option(text), None
            except ValueError as exc:
                return None, f"is not NAME=VALUE,... ({exc})"
        return text, None
    if kind == "bool":
        return (value, None) if isinstance(value, bool) else (None, "is not a boolean")
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
        return (value, None) if ok else (None, "is not an integer")
    if kind == "float":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return (float(value), None) if ok else (None, "is not a number")
    if kind == "list":
        if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            return tuple(value), None
        return None, "is not a list of strings"
    if kind == "map":
        if isinstance(value, Mapping) and all(isinstance(v, str) for v in value.values()):
            return {str(k): v for k, v in value.items()}, None
        return None, "is not a table of strings"
    return (value, None) if isinstance(value, str) else (None, "is not a string")


def _flatten(doc: Mapping[str, Any], origin: str, problems: list[str]) -> dict[str, Any]:
    """Nested TOML tables → dotted keys; unknown sections/keys are problems."""
    known = keys()
    out: dict[str, Any] = {}
    for section, table in doc.items():
        if section not in SECTIONS:
            hint = difflib.get_close_matches(section, SECTIONS, n=1)
            problems.append(
                f"{origin}: unknown section [{section}]"
                + (f" (did you mean [{hint[0]}]?)" if hint else "")
            )
            continue
        if not isinstance(table, Mapping):
            problems.append(f"{origin}: {section} must be a table ([{section}])")
            continue
        for name, value in table.items():
            key = f"{section}.{name}"
            if key not in known:
                names = [k.partition(".")[2] for k in known if k.startswith(section + ".")]
                hint = difflib.get_close_matches(str(name), names, n=1)
                problems.append(
                    f"{origin}: unknown key {key}"
                    + (f" (did you mean {section}.{hint[0]}?)" if hint else "")
                )
                continue
            out[key] = value
    return out


def _read_secret_file(path: str, key: str, origin: str, problems: list[str]) -> Secret | None:
    try:
        text = Path(path).expanduser().read_text().strip()
    except OSError as exc:
        problems.append(f"{origin}: {key} = {format_value(path)} cannot be read ({exc.strerror})")
        return None
    if not text:
        problems.append(f"{origin}: {key} = {format_value(path)} is empty")
        return None
    # A token file may hold several lines (e.g. "token client-id"); the first is ours.
    return Secret(text.splitlines()[0].split()[0])


def load_config(
    path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    override_sources: Mapping[str, str] | None = None,
) -> Config:
    """Build the configuration: flag (override) > environment > file > default.

    Args:
        path: the TOML file; default ``$VPP_CONFIG`` from ``env``; none: no file.
        env: environment (default ``os.environ``); ``VPP_<SECTION>_<KEY>``
            sets a key (``VPP_BATTERY_EFFICIENCY=0.88``); empty values count
            as unset. Lists are comma-separated, tables ``NAME=VALUE,...``.
        overrides: dotted key → value (``{"battery.efficiency": 0.9}``) or
            nested ``{"battery": {"efficiency": 0.9}}``; ``None`` values are
            ignored. This is where flags go.
        override_sources: dotted key → label used in messages (a flag such as
            ``--efficiency``); default ``"override"``.

    Returns:
        The validated configuration, with ``sources`` telling where each
        value came from.

    Raises:
        ConfigError: unreadable or invalid TOML, unknown keys, values of the
            wrong type or out of range, secrets in the file, unreadable token
            files. The message lists every problem, one per line.
    """
    env = os.environ if env is None else env
    problems: list[str] = []
    known = keys()
    raw: dict[str, tuple[Any, str, bool]] = {}  # key -> (value, origin, from_text)

    if path is None and env.get(CONFIG_ENV):
        path = env[CONFIG_ENV]
    file_label = None
    if path is not None:
        file_label = os.fspath(path)
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError(f"{file_label}: config file not found") from None
        except OSError as exc:
            raise ConfigError(f"{file_label}: cannot read config file ({exc.strerror})") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{file_label}: invalid TOML: {exc}") from None
        for key, value in _flatten(doc, file_label, problems).items():
            if _kind(known[key])[0] == "Secret":
                problems.append(
                    f"{file_label}: {key} is a secret and is not read from the config file; "
                    f"set {env_name(key)} or {key}_file"
                )
                continue
            raw[key] = (value, file_label, False)

    for key in known:
        for name in (*reversed(_ENV_ALIASES.get(key, ())), env_name(key)):
            text = env.get(name)
            if text is not None and text.strip() != "":
                raw[key] = (text, name, True)

    labels = dict(override_sources or {})
    for key, value in _flat_overrides(overrides or {}).items():
        if key not in known:
            problems.append(f"{labels.get(key, 'override')}: unknown key {key}")
        elif value is not None:
            raw[key] = (value, labels.get(key, "override"), isinstance(value, str))

    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, (value, origin, from_text) in raw.items():
        kind, _optional = _kind(known[key])
        converted, problem = _coerce(value, kind, from_text)
        shown = "****" if kind == "Secret" else format_value(value)
        if problem is None:
            check = known[key].metadata.get("check")
            problem = check(converted) if check is not None else None
            shown = format_value(converted)
        if problem is not None:
            problems.append(f"{origin}: {key} = {shown} {problem}")
            continue
        values[key] = converted
        sources[key] = origin

    # Secrets from their companion files unless given directly.
    for key in known:
        if _kind(known[key])[0] == "Secret" and key not in values:
            file_key = f"{key}_file"
            if values.get(file_key):
                secret = _read_secret_file(values[file_key], file_key, sources[file_key], problems)
                if secret is not None:
                    values[key] = secret
                    sources[key] = f"{sources[file_key]} ({file_key})"

    if problems:
        raise ConfigError("\n".join(problems))
    sections = {}
    for section, cls in SECTIONS.items():
        kwargs = {
            name: values[f"{section}.{name}"]
            for name in (f.name for f in dataclasses.fields(cls))
            if f"{section}.{name}" in values
        }
        sections[section] = cls(**kwargs)
    cfg = Config(**sections, sources=sources, path=file_label)
    cross = [f"{_origin_of(involved, sources)}{text}" for involved, text in cross_checks(cfg)]
    if cross:
        raise ConfigError("\n".join(cross))
    return cfg


def _origin_of(involved: list[str], sources: Mapping[str, str]) -> str:
    origins = sorted({sources[k] for k in involved if k in sources})
    return (", ".join(origins) + ": ") if origins else ""


def _flat_overrides(overrides: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if isinstance(value, Mapping) and key in SECTIONS:
            for name, v in value.items():
                out[f"{key}.{name}"] = v
        else:
            out[key] = value
    return out


def example_toml() -> str:
    """The text of ``vpp.example.toml``: every key with its doc and default.

    Keys without a default (and secrets) are shown commented out.
    """
    lines = [
        "# vpp configuration: every key, its meaning and its default.",
        "#",
        "# Use:  vpp <command> --config vpp.toml   (or set VPP_CONFIG=vpp.toml)",
        "# Precedence: command-line flag > environment > this file > default.",
        "# Every key KEY of section [SECTION] can be set by the environment variable",
        "# VPP_<SECTION>_<KEY>, e.g. VPP_BATTERY_EFFICIENCY=0.88 or VPP_KAFKA_BROKERS=host:9092",
        "# (lists comma-separated; tables as NAME=VALUE,NAME=VALUE).",
        "# Secrets (tokens, passwords) are never read from this file: set them in the",
        "# environment (VPP_INFLUX_TOKEN, VPP_MCP_TOKEN, VPP_KAFKA_SASL_PASSWORD) or point",
        "# the matching *_file key at a file that holds them.",
        "# Check a file with:  vpp config --config vpp.toml",
    ]
    for section, cls in SECTIONS.items():
        lines += ["", f"# {(cls.__doc__ or '').strip()}", f"[{section}]"]
        for f in dataclasses.fields(cls):
            key = f"{section}.{f.name}"
            kind, _ = _kind(f)
            lines.append(f"# {f.metadata['doc']}  (env: {env_name(key)})")
            default = f.default_factory() if callable(f.default_factory) else f.default
            if kind == "Secret":
                continue
            if default is None:
                lines.append(f"# {f.name} = ")
            elif kind == "map":
                lines.append(f"{f.name} = {{}}")
            else:
                lines.append(f"{f.name} = {format_value(default)}")
        lines += _SECTION_EXAMPLES.get(section, [])
    return "\n".join(lines) + "\n"


#: Commented examples printed after a section of ``vpp.example.toml``.
_SECTION_EXAMPLES: dict[str, list[str]] = {
    "agents": [
        "#",
        "# Example: a demo-sized fleet for the default twin (load 30-45 GW), i.e.",
        "# 50 units of 20 MW / 40 MWh (1 GW / 2 GWh) at the site, half of it",
        "# contracted for frequency response:",
        "#   [battery]",
        "#   units_per_site = 50",
        "#   power_mw = 20.0",
        "#   energy_mwh = 40.0",
        "#   [agents]",
        "#   contracted_mw = 500.0",
    ],
}
