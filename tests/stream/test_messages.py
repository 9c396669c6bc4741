"""Message encoding and batch decoding, without a broker."""

from __future__ import annotations

import json

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.stream.helpers import MINUTE_NS, T0_NS, synthetic_telemetry
from vpp.schema import BATTERY_SOC, SIGNALS
from vpp.stream.messages import decode_batch, decode_batch_py, encode_events


def _decode_one_by_one(values: list[bytes], keys: list[bytes | None]) -> tuple:
    """Oracle: each message alone (the per-message path), sharing the order state."""
    last: dict[str, int] = {}
    ts, sites, rows, index, reasons = [], [], [], [], []
    for i, (v, k) in enumerate(zip(values, keys, strict=True)):
        d = decode_batch([v], [k], last)
        if len(d.index):
            ts.append(int(d.ts_ns[0]))
            sites.append(d.sites[0])
            rows.append(d.values[0])
            index.append(i)
        reasons += [(i, r) for _, r in d.rejects]
    return ts, sites, np.array(rows).reshape(-1, len(SIGNALS)), index, reasons


def test_encode_then_decode_gives_back_the_events() -> None:
    tel = synthetic_telemetry(2000, n_sites=5, seed=4)
    keys, values = encode_events(tel)
    d = decode_batch(values, keys, {})
    assert d.rejects == []
    assert d.index.tolist() == list(range(len(tel)))
    np.testing.assert_array_equal(d.ts_ns, tel.ts_ns)
    assert d.sites.tolist() == tel.sites.tolist()
    got = d.telemetry().select(tel.signals).values  # every canonical signal, NaN if absent
    np.testing.assert_array_equal(got, tel.values)  # NaN → null → NaN
    assert np.isnan(d.telemetry().select([BATTERY_SOC]).values).all()
    assert keys[0] == tel.sites[0].encode()


def test_batch_decode_equals_decoding_each_message() -> None:
    tel = synthetic_telemetry(400, n_sites=3, seed=5)
    keys, values = encode_events(tel)
    values[7] = b"{broken"
    values[50] = orjson.dumps({"ts_ns": int(tel.ts_ns[50]), "site": tel.sites[50], "x": 1})
    values[90] = values[89]  # another site's event under this key: mismatch
    values[120] = values[117]  # same site, same time: out of order
    got = decode_batch(values, keys, {})
    ts, sites, rows, index, reasons = _decode_one_by_one(values, keys)
    assert got.index.tolist() == index
    assert got.ts_ns.tolist() == ts
    assert got.sites.tolist() == sites
    np.testing.assert_array_equal(got.values, rows)
    assert got.rejects == reasons
    assert [i for i, _ in got.rejects] == [7, 50, 90, 120]


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
cell = st.one_of(st.none(), finite, st.integers(-(10**9), 10**9))


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c"]),
            st.integers(-3, 3),
            st.lists(cell, min_size=len(SIGNALS), max_size=len(SIGNALS)),
            st.booleans(),
        ),
        min_size=1,
        max_size=40,
    )
)
def test_fast_path_agrees_with_the_checks_on_generated_streams(events: list) -> None:
    """Full well-typed messages take the column-wise path; it must agree with the oracle."""
    keys: list[bytes | None] = []
    values: list[bytes] = []
    clock = {"a": T0_NS, "b": T0_NS, "c": T0_NS}
    for site, step, row, keyed in events:
        clock[site] += step * MINUTE_NS  # steps <= 0 are out of order
        doc = {"ts_ns": clock[site], "site": site, **dict(zip(SIGNALS, row, strict=True))}
        values.append(orjson.dumps(doc))
        keys.append(site.encode() if keyed else None)
    got = decode_batch(values, keys, {})
    ts, sites, rows, index, reasons = _decode_one_by_one(values, keys)
    assert got.index.tolist() == index
    assert got.ts_ns.tolist() == ts
    assert got.sites.tolist() == sites
    np.testing.assert_array_equal(got.values, rows)
    assert got.rejects == reasons


@pytest.mark.parametrize(
    ("doc", "key", "reason"),
    [
        ([1, 2], b"a", "not a JSON object"),
        ({"site": "a", "load_mw": 1}, b"a", "missing timestamp"),
        ({"ts_ns": "5", "load_mw": 1}, b"a", "ts_ns must be integer"),
        ({"ts_ns": 1.5, "load_mw": 1}, b"a", "ts_ns must be integer"),
        ({"ts_ns": 2**63, "load_mw": 1}, b"a", "out of int64 range"),
        ({"timestamp": "soon", "load_mw": 1}, b"a", "unparseable timestamp"),
        ({"ts_ns": 5, "load_mw": "1.5"}, b"a", "non-numeric value for load_mw"),
        ({"ts_ns": 5, "load_mw": True}, b"a", "non-numeric value for load_mw"),
        ({"ts_ns": 5, "load_mw": 1, "load_kw": 1}, b"a", "unknown field(s) ['load_kw']"),
        ({"ts_ns": 5, "load_mw": 1, "units": "GW"}, b"a", "unknown units 'GW'"),
        ({"ts_ns": 5, "site": "b", "load_mw": 1}, b"a", "does not match the message key"),
        ({"ts_ns": 5, "site": "", "load_mw": 1}, None, "site must be a non-empty string"),
        ({"ts_ns": 5, "site": "a"}, b"a", "no signal field"),
        ({"ts_ns": 5, "site": "a\nb", "load_mw": 1}, None, "site contains control characters"),
        ({"ts_ns": 5, "load_mw": 1}, b"a\x7fb", "site contains control characters"),
    ],
)
def test_each_fault_is_named(doc: object, key: bytes | None, reason: str) -> None:
    d = decode_batch([orjson.dumps(doc)], [key], {})
    assert len(d.index) == 0
    assert len(d.rejects) == 1 and reason in d.rejects[0][1], d.rejects


def test_tombstones_and_non_json_are_rejected() -> None:
    d = decode_batch([None, b"\xff", b""], [b"a", b"a", None], {})
    assert [r.split(" (")[0] for _, r in d.rejects] == [
        "empty message",
        "not JSON",
        "not JSON",
    ]


def test_kw_units_iso_timestamps_and_defaults() -> None:
    msgs = [
        b'{"timestamp": "2024-01-01T00:00:00", "load_mw": 2500, "price_per_mwh": 0.1, '
        b'"units": "kW"}',
        b'{"ts_ns": 1704067260000000000, "solar_mw": null}',
    ]
    d = decode_batch(msgs, [b"plant", None], {})
    assert d.rejects == []
    assert d.ts_ns.tolist() == [1704067200000000000, 1704067260000000000]
    assert d.sites.tolist() == ["plant", "grid"]  # the key, then the default site
    assert d.values[0, SIGNALS.index("load_mw")] == 2.5
    assert d.values[0, SIGNALS.index("price_per_mwh")] == pytest.approx(100.0)
    assert np.isnan(d.values[1]).all()


def test_order_state_carries_across_batches() -> None:
    last: dict[str, int] = {}
    first = decode_batch([b'{"ts_ns": 10, "site": "a", "load_mw": 1}'], [b"a"], last)
    again = decode_batch([b'{"ts_ns": 10, "site": "a", "load_mw": 1}'], [b"a"], last)
    later = decode_batch([b'{"ts_ns": 11, "site": "a", "load_mw": 1}'], [b"a"], last)
    assert len(first.index) == 1 and len(later.index) == 1
    assert "out of order for site 'a'" in again.rejects[0][1]
    assert last == {"a": 11}


def _same(a: object, b: object) -> None:
    assert a.index.tolist() == b.index.tolist()  # type: ignore[attr-defined]
    assert a.ts_ns.tolist() == b.ts_ns.tolist()  # type: ignore[attr-defined]
    assert a.sites.tolist() == b.sites.tolist()  # type: ignore[attr-defined]
    np.testing.assert_array_equal(a.values, b.values)  # type: ignore[attr-defined]
    assert a.rejects == b.rejects  # type: ignore[attr-defined]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rust_fast_path_equals_the_orjson_path_on_fuzzed_messages(seed: int) -> None:
    from tests.stream.test_fuzz import generate

    msgs = generate(1500, seed=seed)
    values = [m.value for m in msgs]
    keys = [m.key for m in msgs]
    _same(decode_batch(values, keys, {}), decode_batch_py(values, keys, {}))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60), st.sampled_from([None, b"a", b"\xff", b"\x7f", b""]))
def test_arbitrary_bytes_never_crash_and_both_paths_agree(value: bytes, key: bytes | None) -> None:
    _same(decode_batch([value], [key], {}), decode_batch_py([value], [key], {}))


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=5,
)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["ts_ns", "site", "units", "timestamp", "x", *SIGNALS]),
        json_value | st.integers(-(2**64), 2**64) | st.floats(),
    )
)
def test_generated_objects_decode_the_same_in_rust_and_python(doc: dict) -> None:
    value = json.dumps(doc).encode()  # the stdlib writes integers of any size
    for key in (b"a", None):
        _same(decode_batch([value], [key], {}), decode_batch_py([value], [key], {}))


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(-2, 3)), min_size=1, max_size=40
    ),
    st.integers(0, 40),
)
def test_order_checks_across_a_batch_split_equal_one_batch(events: list, cut: int) -> None:
    """The vectorised in-order path and the per-event loop keep the same events."""
    clock = {"a": T0_NS, "b": T0_NS, "c": T0_NS}
    values: list[bytes] = []
    for site, step in events:
        clock[site] += step * MINUTE_NS
        values.append(orjson.dumps({"ts_ns": clock[site], "site": site, "load_mw": 1.0}))
    keys = [orjson.loads(v)["site"].encode() for v in values]
    whole_last: dict[str, int] = {}
    whole = decode_batch(values, keys, whole_last)
    split_last: dict[str, int] = {}
    first = decode_batch(values[:cut], keys[:cut], split_last)
    second = decode_batch(values[cut:], keys[cut:], split_last)
    kept = first.index.tolist() + [cut + i for i in second.index.tolist()]
    assert kept == whole.index.tolist()
    assert split_last == whole_last
    oracle_last: dict[str, int] = {}
    oracle = decode_batch_py(values, keys, oracle_last)
    assert oracle.index.tolist() == whole.index.tolist() and oracle_last == whole_last
