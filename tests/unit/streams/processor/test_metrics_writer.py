"""The stream processor's metrics writer: rows reach ClickHouse in one flush, and a
ClickHouse outage drops them (counted) instead of stalling or crashing the stream."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from relstream.core.clickhouse import get_client
from relstream.core.clickhouse_sink import OnFailure
from relstream.core.settings import CommonSettings
from streams.processor.metrics import (
    AGGREGATES_POLICY,
    AGGREGATES_TABLE,
    REQUESTS_POLICY,
    REQUESTS_TABLE,
    MetricsWriter,
)

TS = datetime(2026, 3, 1, 12, tzinfo=UTC)
ROW = {"event_timestamp": TS, "query": "shoes", "item_id": "a", "ctr_1h": 0.1,
       "ctr_24h": 0.2, "impressions_1h": 3, "clicks_24h": 1}


def _fill(writer: MetricsWriter, event_id: str) -> None:
    writer.label_request(TS, event_id, "shoes", "a", 0.9, ["long_tail"], "s1", True, False)
    writer.aggregate("pair_stats", ROW)


def test_policies_drop_rather_than_stall() -> None:
    assert REQUESTS_POLICY.on_failure is OnFailure.DROP
    assert AGGREGATES_POLICY.on_failure is OnFailure.DROP


def test_rows_reach_clickhouse(chdb_url: str, tmp_path: Path) -> None:
    settings = CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path)
    writer = MetricsWriter(settings)
    _fill(writer, "mw-1")
    assert writer.flush() == 2 and writer.written == 2 and writer.dropped == 0
    assert writer.flush() == 0
    client = get_client(settings)
    got = client.query(f"SELECT reasons, long_tail FROM {REQUESTS_TABLE} "
                       "WHERE event_id = 'mw-1'").result_rows
    assert got == [(["long_tail"], 1)]
    got = client.query(f"SELECT impressions_1h, clicks_24h FROM {AGGREGATES_TABLE} "
                       "WHERE view = 'pair_stats' AND query = 'shoes'").result_rows
    assert (3, 1) in got


def test_a_failed_flush_drops_the_rows_and_counts_them(tmp_path: Path) -> None:
    down = CommonSettings(clickhouse_url="http://127.0.0.1:9/default", state_dir=tmp_path)
    writer = MetricsWriter(down)
    _fill(writer, "mw-2")
    assert writer.flush() == 0  # never raises
    assert writer.dropped == 2 and writer.written == 0
    assert writer.flush() == 0 and writer.dropped == 2  # nothing was carried over


def test_disabled_writer_buffers_nothing(tmp_path: Path) -> None:
    writer = MetricsWriter(CommonSettings(state_dir=tmp_path), enabled=False)
    _fill(writer, "mw-3")
    assert writer.flush() == 0 and writer.written == 0 and writer.dropped == 0
