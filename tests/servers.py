"""Fixtures for tests that need the real Kafka broker and InfluxDB server.

The servers are the ones ``scripts/services/up.sh`` starts on 127.0.0.1; their
addresses come from ``$VPP_SERVICES_DIR/env`` (default
``/tmp/vpp-services/env``), overridden by ``VPP_*`` variables in the
environment. When a server does not answer, the fixture starts it with
``scripts/services/{kafka,influx}.sh start`` (a cold cache fetches the Kafka
jars and builds influxd first), so ``pytest -m kafka`` works on its own. Servers
started here keep running after the session; ``make services-down`` stops them.

Fixtures:
    kafka_brokers: ``"127.0.0.1:19092"``-style bootstrap servers (session).
    kafka_topic: a new, empty topic with 4 partitions, deleted afterwards.
    influx: an :class:`InfluxConn` for the shared ``vpp`` database (session).
    influx_fresh: an :class:`InfluxConn` for a new database, dropped afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "InfluxConn",
    "ensure_influx",
    "ensure_kafka",
    "influx",
    "influx_fresh",
    "kafka_brokers",
    "kafka_topic",
    "services_env",
]

SCRIPTS_DIR = Path(__file__).resolve().parent.parent / "scripts" / "services"
# A cold cache downloads ~45 MB of jars and compiles influxd (about a minute
# each on two cores); leave generous room before calling it a failure.
START_TIMEOUT_S = 900.0


def services_env() -> dict[str, str]:
    """Return the servers' connection settings.

    Returns:
        ``VPP_*`` keys from the env file written by the start scripts, with any
        ``VPP_*`` variable set in the process environment taking precedence.
    """
    state_dir = Path(os.environ.get("VPP_SERVICES_DIR", "/tmp/vpp-services"))
    env: dict[str, str] = {}
    env_file = state_dir / "env"
    if env_file.is_file():
        for line in env_file.read_text().splitlines():
            key, sep, value = line.partition("=")
            if sep and key.startswith("VPP_"):
                env[key.strip()] = value.strip()
    env.update({k: v for k, v in os.environ.items() if k.startswith("VPP_")})
    return env


def _run_script(name: str) -> None:
    proc = subprocess.run(
        ["bash", str(SCRIPTS_DIR / name), "start"],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(
            f"scripts/services/{name} start failed (exit {proc.returncode}):\n"
            f"{proc.stdout}\n{proc.stderr}"
        )


def _port_open(host_port: str) -> bool:
    host, _, port = host_port.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def _kafka_answers(brokers: str) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    # A closed port fails at once instead of after librdkafka's retries.
    if not all(_port_open(b) for b in brokers.split(",")):
        return False
    try:
        metadata = AdminClient({"bootstrap.servers": brokers}).list_topics(timeout=5)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def ensure_kafka() -> str:
    """Return the broker address, starting the broker if it does not answer.

    Returns:
        Bootstrap servers as ``host:port``.

    Raises:
        RuntimeError: the start script failed or the broker still does not answer.
    """
    brokers = services_env().get("VPP_KAFKA_BROKERS")
    if brokers and _kafka_answers(brokers):
        return brokers
    _run_script("kafka.sh")
    brokers = services_env()["VPP_KAFKA_BROKERS"]
    if not _kafka_answers(brokers):
        raise RuntimeError(f"Kafka at {brokers} does not answer after kafka.sh start")
    return brokers


@dataclass(frozen=True)
class InfluxConn:
    """Where and how to reach InfluxDB 1.8 through its v2-compatible API.

    Attributes:
        url: Base URL, e.g. ``http://127.0.0.1:18086``.
        token: ``user:password`` (any value while auth is off, as here).
        org: Always ``"-"`` on InfluxDB 1.8.
        bucket: ``"<database>/<retention policy>"``, e.g. ``"vpp/autogen"``.
        db: The database name alone, for InfluxQL.
        flux: Whether the server answers Flux on ``/api/v2/query``.
    """

    url: str
    token: str
    org: str
    bucket: str
    db: str
    flux: bool = True

    def influxql(self, query: str, *, write: bool = False) -> list[dict[str, Any]]:
        """Run an InfluxQL statement on the v1 ``/query`` endpoint.

        Args:
            query: InfluxQL text.
            write: POST (for CREATE/DROP); GET otherwise.

        Returns:
            The ``results`` list of the JSON answer.

        Raises:
            RuntimeError: HTTP error or an error in a statement's result.
        """
        params = {"db": self.db, "q": query, "epoch": "ns"}
        url = f"{self.url}/query?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, method="POST" if write else "GET")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                body = json.load(resp)
        except urllib.error.URLError as exc:
            raise RuntimeError(f"InfluxQL {query!r} failed: {exc}") from exc
        results: list[dict[str, Any]] = body.get("results", [])
        errors = [r["error"] for r in results if "error" in r]
        if "error" in body or errors:
            raise RuntimeError(f"InfluxQL {query!r} failed: {body.get('error') or errors}")
        return results

    def with_database(self, db: str) -> InfluxConn:
        """Return the same server addressed at another database."""
        return replace(self, db=db, bucket=f"{db}/autogen")


def _influx_healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=3) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def ensure_influx() -> InfluxConn:
    """Return the InfluxDB connection, starting the server if it is not healthy.

    Returns:
        Connection settings for the shared database.

    Raises:
        RuntimeError: the start script failed or the server is still not healthy.
    """
    url = services_env().get("VPP_INFLUX_URL")
    if not (url and _influx_healthy(url)):
        _run_script("influx.sh")
    env = services_env()
    url = env["VPP_INFLUX_URL"]
    if not _influx_healthy(url):
        raise RuntimeError(f"InfluxDB at {url} is not healthy after influx.sh start")
    db = env.get("VPP_INFLUX_DB", "vpp")
    return InfluxConn(
        url=url,
        token=env.get("VPP_INFLUX_TOKEN", "vpp:vpp"),
        org=env.get("VPP_INFLUX_ORG", "-"),
        bucket=env.get("VPP_INFLUX_BUCKET", f"{db}/autogen"),
        db=db,
        flux=env.get("VPP_INFLUX_FLUX", "1") != "0",
    )


@pytest.fixture(scope="session")
def kafka_brokers() -> str:
    """Bootstrap servers of the running broker (started if needed)."""
    return ensure_kafka()


@pytest.fixture
def kafka_topic(kafka_brokers: str) -> Iterator[str]:
    """A new topic with 4 partitions; deleted after the test."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_brokers})
    name = f"test.{uuid.uuid4().hex[:12]}"
    admin.create_topics([NewTopic(name, num_partitions=4, replication_factor=1)])[name].result(
        timeout=30
    )
    yield name
    admin.delete_topics([name])[name].result(timeout=30)


@pytest.fixture(scope="session")
def influx() -> InfluxConn:
    """Connection to the running InfluxDB's shared database (started if needed)."""
    return ensure_influx()


@pytest.fixture
def influx_fresh(influx: InfluxConn) -> Iterator[InfluxConn]:
    """Connection to a new, empty database; dropped after the test."""
    conn = influx.with_database(f"t_{uuid.uuid4().hex[:12]}")
    conn.influxql(f'CREATE DATABASE "{conn.db}"', write=True)
    yield conn
    conn.influxql(f'DROP DATABASE "{conn.db}"', write=True)
