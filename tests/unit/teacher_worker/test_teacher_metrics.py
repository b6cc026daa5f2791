"""The teacher's metrics: one row per batch, written at once; a ClickHouse error is
counted and labelling goes on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relstream.core.clickhouse import get_client
from relstream.core.clickhouse_sink import OnFailure
from relstream.core.settings import CommonSettings
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.metrics import METRICS_POLICY, BatchMetrics, MetricsWriter


class _FailingInserts:
    """The real client, whose inserts fail."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.client.command(sql, parameters)

    def insert(self, table: str, rows: list[list[Any]], column_names: list[str]) -> None:
        raise ConnectionError("ClickHouse is down (test)")

    def query(self, sql: str) -> Any:
        return self.client.query(sql)


def test_rows_are_written_at_once_and_summed(chdb_url: str, tmp_path: Path) -> None:
    assert METRICS_POLICY.on_failure is OnFailure.DROP
    client = get_client(CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path))
    writer = MetricsWriter(client, "tm_unit_written")
    writer.write(BatchMetrics(worker="w", distinct_pairs=4, cache_hits=1, labelled=3,
                              parse_failures=1, latency_s=2.0, new_tokens=100))
    assert writer.written == 1
    summary = MetricsWriter(client, "tm_unit_written").summary()
    assert summary["batches"] == 1.0 and summary["cache_hit_rate"] == 0.25
    assert summary["parse_failure_rate"] == 0.25 and summary["tokens_per_s"] == 50.0


def test_a_failed_insert_is_counted_not_raised(chdb_url: str, tmp_path: Path) -> None:
    client = get_client(CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path))
    writer = MetricsWriter(_FailingInserts(client), "tm_unit_failing")
    writer.write(BatchMetrics(worker="w"))
    writer.write(BatchMetrics(worker="w"))
    assert writer.written == 0 and writer.dropped == 2
    assert writer.summary()["batches"] == 0.0


def test_table_names_are_plain_identifiers() -> None:
    with pytest.raises(TeacherWorkerError, match="plain identifier"):
        MetricsWriter(object(), "x; DROP TABLE y")
