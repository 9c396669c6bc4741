"""vpp.toml, VPP_* variables and flags: precedence, validation, secrets."""

from __future__ import annotations

import doctest
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import vpp.config
import vpp.config.schema
import vpp.report.series
from vpp.cli.main import build_parser
from vpp.config import Config, ConfigError, Secret, apply_config, example_toml, keys, load_config

ROOT = Path(__file__).resolve().parents[2]
VPP = [sys.executable, "-m", "vpp.cli.main"]


def _toml(tmp_path: Path, text: str, name: str = "vpp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# -- precedence ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("key", "file_value", "env_value", "flag_value", "expected"),
    [
        ("battery.power_mw", "2.0", "3.5", 4.0, (1.0, 2.0, 3.5, 4.0)),
        ("log.quiet", "true", "no", True, (False, True, False, True)),
        ("kafka.brokers", '"a:9092"', "b:9092", "c:9092", (None, "a:9092", "b:9092", "c:9092")),
        ("sites.ids", '["n", "s"]', "e, w", ("x",), ((), ("n", "s"), ("e", "w"), ("x",))),
        (
            "input.columns",
            '{ load_mw = "Load A" }',
            'load_mw="Load, B"',
            {"load_mw": "C"},
            ({}, {"load_mw": "Load A"}, {"load_mw": "Load, B"}, {"load_mw": "C"}),
        ),
    ],
)
def test_flag_beats_env_beats_file_beats_default(
    tmp_path, key, file_value, env_value, flag_value, expected
):
    section, _, name = key.partition(".")
    path = _toml(tmp_path, f"[{section}]\n{name} = {file_value}\n")
    env = {vpp.config.env_name(key): env_value}
    default, from_file, from_env, from_flag = expected

    assert load_config(env={}).get(key) == default
    cfg = load_config(path, env={})
    assert (cfg.get(key), cfg.source(key)) == (from_file, str(path))
    cfg = load_config(path, env=env)
    assert (cfg.get(key), cfg.source(key)) == (from_env, vpp.config.env_name(key))
    cfg = load_config(path, env=env, overrides={key: flag_value}, override_sources={key: "--x"})
    assert (cfg.get(key), cfg.source(key)) == (from_flag, "--x")


def test_config_path_from_env_and_nested_overrides(tmp_path):
    path = _toml(tmp_path, "[battery]\nenergy_mwh = 7.5\n")
    cfg = load_config(env={"VPP_CONFIG": str(path)}, overrides={"battery": {"power_mw": 3.0}})
    assert (cfg.battery.energy_mwh, cfg.battery.power_mw, cfg.path) == (7.5, 3.0, str(path))


def test_legacy_vpp_store_is_below_vpp_store_url():
    assert load_config(env={"VPP_STORE": "a.db"}).store.url == "a.db"
    assert load_config(env={"VPP_STORE": "a.db", "VPP_STORE_URL": "b.db"}).store.url == "b.db"


def test_empty_env_value_counts_as_unset(tmp_path):
    path = _toml(tmp_path, '[kafka]\nbrokers = "a:1"\n')
    assert load_config(path, env={"VPP_KAFKA_BROKERS": ""}).kafka.brokers == "a:1"


def _parse_run(argv: list[str]):
    return build_parser().parse_args(["run", *argv])


def test_apply_config_fills_only_options_not_given(tmp_path):
    path = _toml(
        tmp_path, '[twin]\ndays = 2.0\nseed = 7\n[store]\nurl = "f.db"\n[log]\nformat = "json"\n'
    )
    env = {"VPP_TWIN_SEED": "9"}
    args = _parse_run(["--config", str(path), "--store", "flag.db"])
    cfg = apply_config(args, env=env)
    assert (args.days, args.seed, args.store, args.log_format) == (2.0, 9, "flag.db", "json")
    assert args.units == "MW" and args.quiet is False  # the options' own defaults
    assert args.vpp_config is cfg and cfg.source("store.url") == "--store"


def test_apply_config_without_file_keeps_command_defaults():
    args = _parse_run([])
    apply_config(args, env={})
    assert (args.units, args.batch_events, args.log_format, args.store) == (
        "MW",
        4096,
        "text",
        None,
    )


def test_apply_config_leaves_file_input_settings_out_under_twin(tmp_path):
    path = _toml(tmp_path, '[input]\npath = "x.csv"\nunits = "kW"\n')
    args = _parse_run(["--config", str(path), "--twin"])
    apply_config(args, env={})
    assert (args.input, args.units) == (None, "MW")
    args = _parse_run(["--config", str(path)])
    apply_config(args, env={})
    assert (args.input, args.units) == ("x.csv", "kW")


def test_apply_config_names_the_flag_in_errors():
    args = _parse_run(["--days", "-1"])
    with pytest.raises(ConfigError, match=r"^--days: twin\.days = -1\.0 is outside \(0, inf\)$"):
        apply_config(args, env={})


def test_vpp_run_reads_file_env_and_flag(tmp_path):
    path = _toml(tmp_path, "[twin]\ndays = 0.25\n[log]\nquiet = true\n")
    env = {**os.environ, "VPP_CONFIG": str(path)}
    env.pop("VPP_TWIN_DAYS", None)
    store = str(tmp_path / "s.sqlite")

    def events(*argv: str, **extra: str) -> int:
        out = subprocess.run(
            [*VPP, "run", "--store", store, *argv],
            env={**env, **extra},
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        )
        assert out.stderr == ""  # log.quiet = true from the file
        return json.loads(out.stdout)["events"]

    assert events() == 360  # file: 0.25 day of 1-min steps
    assert events(VPP_TWIN_DAYS="0.5") == 720  # env beats file
    assert events("--days", "0.125", VPP_TWIN_DAYS="0.5") == 180  # flag beats env


# -- validation ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "env", "message"),
    [
        (
            "[battery]\nefficiency = 1.4\n",
            {},
            "vpp.toml: battery.efficiency = 1.4 is outside (0, 1]",
        ),
        ("[battery]\nefficiency = 0\n", {}, "vpp.toml: battery.efficiency = 0.0 is outside (0, 1]"),
        ("", {"VPP_BATTERY_EFFICIENCY": "1.4"}, "VPP_BATTERY_EFFICIENCY: battery.efficiency = 1.4"),
        ("[battery]\npower_mw = -2\n", {}, "vpp.toml: battery.power_mw = -2.0 is outside (0, inf)"),
        ('[battery]\npower_mw = "big"\n', {}, 'vpp.toml: battery.power_mw = "big" is not a number'),
        ("", {"VPP_MCP_PORT": "http"}, 'VPP_MCP_PORT: mcp.port = "http" is not an integer'),
        ("[mcp]\nport = 70000\n", {}, "vpp.toml: mcp.port = 70000 is outside [1, 65535]"),
        ('[input]\nunits = "GW"\n', {}, 'vpp.toml: input.units = "GW" is not one of MW, kW'),
        ("", {"VPP_LOG_QUIET": "maybe"}, 'VPP_LOG_QUIET: log.quiet = "maybe" is not a boolean'),
        (
            "[battery]\nefficency = 0.9\n",
            {},
            "unknown key battery.efficency (did you mean battery.efficiency?)",
        ),
        ("[batery]\n", {}, "unknown section [batery] (did you mean [battery]?)"),
        (
            "[battery]\nsoc_min = 0.8\nsoc_max = 0.2\n",
            {},
            "vpp.toml: battery.soc_min = 0.8 must be below battery.soc_max = 0.2",
        ),
        (
            "[agents]\ncontracted_mw = 5.0\n",
            {},
            "vpp.toml: agents.contracted_mw = 5.0 exceeds the fleet's power",
        ),
        ('[kafka]\nsecurity_protocol = "SASL_SSL"\n', {}, "needs kafka.sasl_mechanism"),
        ("[battery\n", {}, "vpp.toml: invalid TOML"),
    ],
)
def test_validation_errors_name_source_and_key(tmp_path, text, env, message):
    path = _toml(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    # Messages start with the file's path (or the variable); compare from its name.
    assert message in str(info.value).replace(str(tmp_path) + os.sep, "")


def test_every_problem_reported_at_once(tmp_path):
    path = _toml(tmp_path, "[battery]\nefficiency = 2.0\nenergy_mwh = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"VPP_METRICS_PORT": "x"})
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert {line.split(" = ")[0].split(": ")[1] for line in lines} == {
        "battery.efficiency",
        "battery.energy_mwh",
        "metrics.port",
    }


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml", env={})


# -- secrets ------------------------------------------------------------------
def test_secret_in_file_is_refused_without_echoing_it(tmp_path):
    path = _toml(tmp_path, '[influx]\ntoken = "s3cr3t-in-file"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    text = str(info.value)
    assert "influx.token is a secret" in text and "VPP_INFLUX_TOKEN" in text
    assert "s3cr3t-in-file" not in text


def test_secrets_from_env_and_token_file_never_print(tmp_path):
    token_file = tmp_path / "mcp.token"
    token_file.write_text("tok-from-file client-a\nother-token\n")
    path = _toml(tmp_path, f'[mcp]\ntoken_file = "{token_file}"\n')
    env = {"VPP_INFLUX_TOKEN": "user:pa55word", "VPP_KAFKA_SASL_PASSWORD": "kafka-pw"}
    cfg = load_config(path, env=env)
    assert cfg.influx.token == Secret("user:pa55word")
    assert cfg.influx.token.get() == "user:pa55word"
    assert cfg.mcp.token.get() == "tok-from-file"
    assert cfg.source("mcp.token") == f"{path} (mcp.token_file)"
    shown = repr(cfg) + str(cfg) + json.dumps(cfg.to_dict()) + repr(cfg.influx)
    for secret in ("pa55word", "tok-from-file", "kafka-pw"):
        assert secret not in shown
    assert cfg.to_dict(reveal_secrets=True)["kafka"]["sasl_password"] == "kafka-pw"


def test_unreadable_token_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"VPP_INFLUX_TOKEN_FILE: influx\.token_file = .* cannot"):
        load_config(env={"VPP_INFLUX_TOKEN_FILE": str(tmp_path / "missing")})


def test_vpp_config_command_masks_secrets(tmp_path):
    env = {**os.environ, "VPP_INFLUX_TOKEN": "user:hunter2", "VPP_BATTERY_POWER_MW": "3"}
    for extra in ([], ["--json"]):
        out = subprocess.run(
            [*VPP, "config", *extra], env=env, capture_output=True, text=True, check=True
        )
        assert "hunter2" not in out.stdout + out.stderr
        assert "****" in out.stdout and "VPP_BATTERY_POWER_MW" in out.stdout
    bad = subprocess.run(
        [*VPP, "config"], env={**env, "VPP_BATTERY_EFFICIENCY": "7"}, capture_output=True, text=True
    )
    assert bad.returncode == 2
    assert "VPP_BATTERY_EFFICIENCY: battery.efficiency = 7.0 is outside (0, 1]" in bad.stderr


# -- the example file and the objects built from the config ----------------------
def test_example_file_is_current_documents_every_key_and_loads_to_defaults():
    text = (ROOT / "vpp.example.toml").read_text()
    assert text == example_toml(), "regenerate: vpp config --example > vpp.example.toml"
    for key in keys():
        assert vpp.config.env_name(key) in text
    assert load_config(ROOT / "vpp.example.toml", env={}) == Config()


def test_config_builds_the_agents_objects():
    cfg = load_config(
        env={
            "VPP_SITES_IDS": "a,b",
            "VPP_BATTERY_UNITS_PER_SITE": "2",
            "VPP_BATTERY_EFFICIENCY": "0.81",
        }
    )
    fleet = cfg.fleet_config()
    assert fleet.sites == ("a", "b") and fleet.unit_sites == (0, 0, 1, 1)
    assert fleet.units[0].charge_efficiency == pytest.approx(0.9)
    assert cfg.frequency_response_config().deadband_hz == 0.015
    assert cfg.arbitrage_config().horizon_steps == 48


@pytest.mark.parametrize("module", [vpp.config, vpp.config.schema, vpp.report.series])
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_parsing_alone_keeps_every_default():
    args = build_parser().parse_args(["mcp"])
    assert (args.transport, args.port, args.host) == ("stdio", 8000, "127.0.0.1")
    args = _parse_run([])
    assert (args.units, args.log_format, args.quiet) == ("MW", "text", False)


def test_flags_equal_to_their_default_still_beat_the_environment(tmp_path):
    # Given explicitly, even a default value is the user's choice.
    args = _parse_run(["--units", "MW", "--log-format", "text", "--columns", "load_mw=L"])
    cfg = apply_config(args, env={"VPP_INPUT_UNITS": "kW", "VPP_LOG_FORMAT": "json"})
    assert (args.units, args.log_format) == ("MW", "text")
    assert cfg.source("input.units") == "--units" and cfg.input.columns == {"load_mw": "L"}
    args = _parse_run(["--quiet"])
    apply_config(args, env={"VPP_LOG_QUIET": "false"})
    assert args.quiet is True
    args = _parse_run([])
    apply_config(args, env={"VPP_LOG_QUIET": "true", "VPP_INPUT_COLUMNS": "load_mw=Load"})
    assert args.quiet is True and args.columns == ['load_mw="Load"']


def test_skipped_destinations_are_left_to_the_command():
    import argparse

    from vpp.config import add_config_arg

    p = argparse.ArgumentParser()
    p.add_argument("--store")
    p.add_argument("--brokers")
    add_config_arg(p, skip=("store",))
    args = p.parse_args([])
    apply_config(args, env={"VPP_STORE_URL": "x.db", "VPP_KAFKA_BROKERS": "k:9092"})
    assert (args.store, args.brokers) == (None, "k:9092")


def test_mcp_fleet_of_its_own_from_the_file_and_the_flag_wins(tmp_path):
    path = _toml(tmp_path, '[mcp]\nfleet_config = "fleet.json"\nown_fleet = true\n')
    args = build_parser().parse_args(["mcp", "--config", str(path)])
    apply_config(args, env={})
    assert (args.fleet_config, args.own_fleet) == ("fleet.json", True)
    args = build_parser().parse_args(["mcp", "--config", str(path), "--fleet-config", "b.json"])
    cfg = apply_config(args, env={"VPP_MCP_OWN_FLEET": "false"})
    assert (args.fleet_config, args.own_fleet) == ("b.json", False)
    assert cfg.source("mcp.fleet_config") == "--fleet-config"
