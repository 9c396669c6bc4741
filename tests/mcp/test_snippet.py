"""The README snippet's client config and fleet file are valid for this vpp."""

from __future__ import annotations

import json
import re
from pathlib import Path

from vpp.cli.main import build_parser
from vpp.mcp.fleet import load_fleet_config

SNIPPET = Path(__file__).resolve().parents[2] / "python" / "vpp" / "mcp" / "README_SNIPPET.md"


def _json_blocks() -> list[dict]:  # type: ignore[type-arg]
    text = SNIPPET.read_text(encoding="utf-8")
    return [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, flags=re.DOTALL)]


def test_client_config_args_parse_as_vpp_mcp() -> None:
    config, _fleet = _json_blocks()
    entry = config["mcpServers"]["vpp"]
    assert entry["command"].endswith("/vpp")
    args = build_parser().parse_args(entry["args"])
    assert args.command == "mcp" and args.transport == "stdio"
    assert args.max_dispatch_mw == 10.0 and args.quiet


def test_fleet_example_loads() -> None:
    _config, fleet = _json_blocks()
    cfg, fr = load_fleet_config(fleet)
    assert len(cfg.units) == 4 and cfg.power_mw == 8.0 and fr.contracted_mw == 2.0
