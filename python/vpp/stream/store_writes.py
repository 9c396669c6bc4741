"""Writing a poll's telemetry, records and dead letters to the store.

Every write is retried with a doubling backoff while the store says a retry
can help (InfluxDB down, a timeout); the consumer commits nothing meanwhile,
so an outage delays the stream and loses nothing. The writes are idempotent
(points keyed by time, site and series), so a replay after a crash
overwrites what the first attempt wrote.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np

from vpp.errors import VppError
from vpp.io import Store, Telemetry
from vpp.runtime.processor import BatchOutput
from vpp.schema import SIGNALS
from vpp.stream.errors import StreamStopped

__all__ = ["Backoff", "write_poll"]

log = logging.getLogger("vpp.stream")


@dataclass
class Backoff:
    """Retry a write while the store is unavailable.

    Attributes:
        initial_s: first wait (doubles after each failure).
        max_s: longest wait.
        stopping: True once the service was asked to stop (ends the wait).
        serve: called about every 0.1 s while waiting (producer delivery reports).
        retries: failed attempts so far.
    """

    initial_s: float
    max_s: float
    stopping: Callable[[], bool]
    serve: Callable[[], Any]
    retries: int = 0

    def run(self, what: str, write: Callable[[], Any]) -> Any:
        """Run ``write`` until it succeeds; errors that a retry cannot help raise.

        Raises:
            StreamStopped: the service was stopped while the store was down.
        """
        delay = self.initial_s
        while True:
            try:
                return write()
            except VppError as exc:
                if not getattr(exc, "retryable", False):
                    raise
                self.retries += 1
                log.warning("store write (%s) failed: %s; retrying in %.1f s", what, exc, delay)
                deadline = time.monotonic() + delay
                while time.monotonic() < deadline:
                    if self.stopping():
                        raise StreamStopped("stopped while the store was unavailable") from None
                    self.serve()
                delay = min(delay * 2, self.max_s)


def write_poll(
    store: Store,
    written: list[tuple[Telemetry, BatchOutput]],
    dead: list[tuple[Any, str]],
    retry: Backoff,
) -> int:
    """Write one poll's events, their records and its dead letters; returns the points."""
    import pandas as pd

    points = 0
    if written:
        tels = [t for t, _ in written]
        tel = Telemetry(
            np.concatenate([t.ts_ns for t in tels]),
            np.concatenate([t.sites for t in tels]),
            np.concatenate([t.values for t in tels]),
            list(SIGNALS),
        )
        retry.run("telemetry", lambda: store.write_telemetry(tel))
        points += len(tel)
    for name, write in (
        ("forecasts", store.write_forecasts),
        ("dispatch", store.write_dispatch),
        ("soc", store.write_soc),
    ):
        frames = [getattr(out, name) for _, out in written]
        frames = [f for f in frames if f is not None and len(f)]
        if frames:
            df = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            retry.run(name, partial(write, df))
            points += len(df)
    letters = []
    for msg, reason in dead:
        # The Kafka timestamp and offset make the dead letter's time, so a
        # replay overwrites it instead of adding a second one.
        received_ns = msg.timestamp()[1] * 1_000_000 + msg.offset() % 1_000_000
        source = f"{msg.topic()}/{msg.partition()}"
        letters.append((source, msg.value() or b"", reason, received_ns))
    if letters:
        many = getattr(store, "write_dead_letters", None)
        if many is not None:
            retry.run("dead letters", partial(many, letters))
        else:
            for letter in letters:
                retry.run("dead letter", partial(store.write_dead_letter, *letter))
    return points
