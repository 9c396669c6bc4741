"""Checkpoints, output records and error callbacks, without a broker."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
from confluent_kafka import KafkaError, TopicPartition

from tests.stream.helpers import synthetic_telemetry
from vpp.errors import SnapshotError
from vpp.runtime.processor import BatchProcessor
from vpp.schema import SIGNALS
from vpp.stream.errors import ErrorAction, KafkaErrorHandler, StreamStopped
from vpp.stream.records import decode_records, encode_records
from vpp.stream.state import PartitionState


def _new() -> BatchProcessor:
    return BatchProcessor.for_signals(list(SIGNALS))


def test_checkpoint_round_trip_continues_like_an_uninterrupted_run() -> None:
    tel = synthetic_telemetry(6000, n_sites=3, seed=8)
    first, rest = tel.slice(0, 3500), tel.slice(3500, len(tel))
    whole = _new()
    whole.process(first)
    want = whole.process(rest)

    st = PartitionState(2, _new(), next_offset=None)
    st.processor.process(first)
    st.last_ts = {"site_00": 1, "site_01": 2}
    st.next_offset = 3500
    back = PartitionState.from_bytes(st.to_bytes(), _new)
    got = back.processor.process(rest)

    assert (back.partition, back.next_offset, back.last_ts) == (2, 3500, st.last_ts)
    np.testing.assert_array_equal(got.features, want.features)
    if want.forecasts is None:
        assert got.forecasts is None
    else:
        pd.testing.assert_frame_equal(got.forecasts, want.forecasts)


def test_checkpoint_garbage_is_refused() -> None:
    with pytest.raises(SnapshotError):
        PartitionState.from_bytes(b"not a checkpoint", _new)
    blob = PartitionState(0, _new()).to_bytes()
    with pytest.raises(SnapshotError):
        PartitionState.from_bytes(blob[:-40], _new)


def test_records_round_trip_per_site() -> None:
    df = pd.DataFrame(
        {
            "ts_ns": np.array([3, 1, 2], dtype=np.int64),
            "site": ["b", "a", "b"],
            "target": "net_load_mw",
            "horizon_steps": np.array([1, 1, 2]),
            "point": [1.5, np.nan, -2.0],
            "model": ["m", "m", None],
        }
    )
    msgs = encode_records(df)
    assert [k for k, _ in msgs] == [b"a", b"b"]
    back = pd.concat([decode_records(v) for _, v in msgs], ignore_index=True)
    want = df.iloc[[1, 0, 2]].reset_index(drop=True)
    assert back["ts_ns"].tolist() == want["ts_ns"].tolist()
    assert back["site"].tolist() == want["site"].tolist()
    np.testing.assert_array_equal(back["point"].to_numpy(), want["point"].to_numpy())
    assert [None if pd.isna(v) else v for v in back["model"]] == ["m", "m", None]
    assert encode_records(df.iloc[:0]) == []


class _Msg:
    def topic(self) -> str:
        return "grid.telemetry"

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 42


def test_error_callbacks_decide_skip_or_stop(caplog: pytest.LogCaptureFixture) -> None:
    handler = KafkaErrorHandler()
    with caplog.at_level(logging.WARNING, logger="vpp.stream"):
        handler.consume_error(KafkaError(KafkaError._TRANSPORT), _Msg())
    assert "partition=3 offset=42" in caplog.text  # logged with its position
    with pytest.raises(StreamStopped, match="partition=3 offset=42"):
        handler.produce_error(KafkaError(KafkaError._MSG_TIMED_OUT), _Msg())
    tp = [TopicPartition("grid.telemetry", 1, 7)]
    handler.commit_error(KafkaError(KafkaError.REBALANCE_IN_PROGRESS), tp)  # skipped
    with pytest.raises(StreamStopped):
        handler.commit_error(KafkaError(KafkaError.TOPIC_AUTHORIZATION_FAILED), tp)
    handler.consume_error(KafkaError(KafkaError._PARTITION_EOF), _Msg())  # not an error
    assert handler.counts == {"consume": 1, "produce": 1, "commit": 2, "client": 0}

    lenient = KafkaErrorHandler(on_produce_error=lambda err, msg: ErrorAction.SKIP)
    lenient.produce_error(KafkaError(KafkaError._MSG_TIMED_OUT), _Msg())
    strict = KafkaErrorHandler(on_consume_error=lambda err, msg: ErrorAction.STOP)
    with pytest.raises(StreamStopped):
        strict.consume_error(KafkaError(KafkaError._TRANSPORT), None)
