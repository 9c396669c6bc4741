"""The store contract tests of the embedded store, run against InfluxDB.

Every store must pass the same record round trips (see :mod:`vpp.io.store`);
the SQLite-only tests (URLs, WAL, concurrency) are not imported.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.io.test_store import (  # noqa: F401  (collected here against InfluxDB)
    test_count_rejects_unknown_table,
    test_dead_letters_keep_payload_and_reason,
    test_dispatch_records_filters_and_idempotence,
    test_forecast_optional_columns_and_missing_required,
    test_forecasts_latest_and_range,
    test_latest_telemetry_per_site,
    test_meta_roundtrip,
    test_partial_batches_merge_signals_of_the_same_event,
    test_soc_latest_per_unit_even_when_written_out_of_order,
    test_telemetry_range_is_half_open_and_last_n,
    test_telemetry_roundtrip_keeps_values_and_missing,
    test_write_twice_is_idempotent_and_later_values_win,
)
from tests.servers import InfluxConn
from vpp.io.store_influx import InfluxStore

pytestmark = pytest.mark.influx


@pytest.fixture
def store(influx_fresh: InfluxConn) -> Iterator[InfluxStore]:
    with InfluxStore(influx_fresh.url, token=influx_fresh.token, bucket=influx_fresh.bucket) as s:
        yield s
