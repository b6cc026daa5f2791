"""The one ClickHouse sink, against the real embedded engine: batched inserts, each
table's failure policy (KEEP retries, DROP sheds), overflow (refuse new, drop oldest),
bounded memory, and a last flush on close."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from relstream.core.clickhouse import LockedClient, get_client
from relstream.core.clickhouse_sink import (
    ClickHouseSink,
    OnFailure,
    SinkTable,
    TablePolicy,
    WhenFull,
)
from relstream.core.errors import RelstreamError
from relstream.core.settings import CommonSettings

KEEP = TablePolicy(on_failure=OnFailure.KEEP, when_full=WhenFull.REFUSE_NEW)
DROP = TablePolicy(on_failure=OnFailure.DROP, when_full=WhenFull.REFUSE_NEW)


class FlakyClient:
    """The real client, whose inserts fail while `down` is set; counts insert calls."""

    def __init__(self, client: LockedClient) -> None:
        self.client = client
        self.down = False
        self.inserts: list[int] = []

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any:
        return self.client.command(sql, parameters)

    def insert(self, table: str, rows: list[list[Any]], column_names: list[str]) -> None:
        if self.down:
            raise ConnectionError("ClickHouse is down (test)")
        self.inserts.append(len(rows))
        self.client.insert(table, rows, column_names=column_names)


@pytest.fixture
def client(chdb_url: str, tmp_path: Path) -> FlakyClient:
    return FlakyClient(get_client(CommonSettings(clickhouse_url=chdb_url, state_dir=tmp_path)))


def _table(policy: TablePolicy, **kwargs: Any) -> SinkTable:
    name = f"sink_{uuid.uuid4().hex[:10]}"
    return SinkTable(name, ["n", "s"], policy, ddl=f"CREATE TABLE IF NOT EXISTS {name} "
                     "(n UInt32, s String) ENGINE = MergeTree ORDER BY n", **kwargs)


def _rows(client: FlakyClient, table: SinkTable) -> list[int]:
    result = client.client.query(f"SELECT n FROM {table.name} ORDER BY n")
    return [r[0] for r in result.result_rows]


def test_rows_are_written_in_batches(client: FlakyClient) -> None:
    table = _table(KEEP)
    sink = ClickHouseSink(lambda: client, [table], batch_size=3)
    for n in range(7):
        assert sink.add(table.name, [n, f"row {n}"])
    sink.connect()  # creates the table
    assert sink.buffered == 7 and _rows(client, table) == []
    assert sink.flush()
    assert client.inserts == [3, 3, 1]
    assert _rows(client, table) == list(range(7))
    assert sink.written == 7 and sink.buffered == 0 and sink.dropped == 0
    assert sink.flush() and client.inserts == [3, 3, 1]  # nothing buffered: no insert


def test_rows_are_converted_and_sized_by_the_table(client: FlakyClient) -> None:
    table = _table(KEEP, to_values=lambda n: [n, "x" * n], size_of=lambda n: 100 + n)
    sink = ClickHouseSink(lambda: client, [table], max_bytes=1000)
    for n in range(20):
        sink.add(table.name, n)
    # Rows 0..8 hold 936 bytes; row 9 (109 bytes) would pass 1000, and so would the rest.
    assert sink.buffered == 9 and sink.buffered_bytes == 936 and sink.dropped == 11
    assert sink.flush() and sink.buffered_bytes == 0
    got = client.client.query(f"SELECT n, s FROM {table.name} ORDER BY n").result_rows
    assert got == [(n, "x" * n) for n in range(9)]


def test_refuse_new_keeps_the_oldest_and_counts(client: FlakyClient) -> None:
    table = _table(TablePolicy(OnFailure.DROP, WhenFull.REFUSE_NEW, max_rows=3))
    sink = ClickHouseSink(lambda: client, [table])
    accepted = [sink.add(table.name, [n, ""]) for n in range(5)]
    assert accepted == [True, True, True, False, False]
    assert sink.buffered == 3 and sink.counts(table.name).dropped == 2
    assert sink.flush() and _rows(client, table) == [0, 1, 2]


def test_drop_oldest_evicts_the_oldest_and_counts(client: FlakyClient) -> None:
    table = _table(TablePolicy(OnFailure.DROP, WhenFull.DROP_OLDEST, max_rows=3))
    sink = ClickHouseSink(lambda: client, [table])
    assert all(sink.add(table.name, [n, ""]) for n in range(5))
    assert sink.buffered == 3 and sink.dropped == 2
    assert sink.flush() and _rows(client, table) == [2, 3, 4]
    assert sink.counts(table.name).written == 3


def test_drop_oldest_by_bytes_evicts_until_the_row_fits(client: FlakyClient) -> None:
    table = _table(TablePolicy(OnFailure.KEEP, WhenFull.DROP_OLDEST, max_bytes=300),
                   to_values=lambda n: [n, ""], size_of=lambda n: 100 if n < 10 else 250)
    sink = ClickHouseSink(lambda: client, [table])
    for n in range(3):
        sink.add(table.name, n)
    assert sink.buffered_bytes == 300
    assert sink.add(table.name, 10)  # needs 250 bytes: every older row must go
    assert sink.buffered == 1 and sink.buffered_bytes == 250 and sink.dropped == 3
    assert sink.flush() and _rows(client, table) == [10]


def test_keep_holds_rows_across_a_failed_insert_and_writes_them_once(
        client: FlakyClient) -> None:
    table = _table(KEEP)
    sink = ClickHouseSink(lambda: client, [table], batch_size=4)
    for n in range(10):
        sink.add(table.name, [n, ""])
    client.down = True
    assert not sink.flush()
    assert sink.buffered == 10 and sink.written == 0 and sink.dropped == 0
    assert sink.failures == 1 and "down" in sink.last_error
    assert not sink.flush() and sink.failures == 2 and sink.buffered == 10
    client.down = False
    sink.add(table.name, [10, ""])
    assert sink.flush()
    assert _rows(client, table) == list(range(11))  # in order, none twice
    assert sink.written == 11 and sink.buffered == 0


def test_keep_survives_a_connection_that_cannot_be_made(tmp_path: Path) -> None:
    down = CommonSettings(clickhouse_url="http://127.0.0.1:9/default", state_dir=tmp_path)
    table = _table(TablePolicy(OnFailure.KEEP, WhenFull.REFUSE_NEW, max_rows=5))
    sink = ClickHouseSink(lambda: get_client(down), [table])
    for n in range(8):
        sink.add(table.name, [n, ""])  # never raises, never waits on ClickHouse
    assert not sink.flush()
    assert sink.buffered == 5 and sink.dropped == 3 and sink.failures == 1
    assert "ClickHouse" in sink.last_error


def test_drop_sheds_what_a_failed_flush_held_and_counts_it(client: FlakyClient) -> None:
    first, second = _table(DROP), _table(DROP)
    sink = ClickHouseSink(lambda: client, [first, second], batch_size=2)
    for n in range(5):
        sink.add(first.name, [n, ""])
        sink.add(second.name, [n, ""])
    client.down = True
    assert not sink.flush()
    # Nothing is carried past the failure: both tables' rows are gone, and counted.
    assert sink.buffered == 0 and sink.dropped == 10 and sink.written == 0
    assert sink.counts(first.name).failures == 1 and sink.counts(second.name).failures == 0
    client.down = False
    sink.add(first.name, [7, ""])
    assert sink.flush() and _rows(client, first) == [7] and _rows(client, second) == []


def test_bounds_can_be_shared_by_the_tables_of_a_sink(client: FlakyClient) -> None:
    first, second = _table(KEEP), _table(KEEP)
    sink = ClickHouseSink(lambda: client, [first, second], max_rows=4)
    for n in range(3):
        sink.add(first.name, [n, ""])
    assert [sink.add(second.name, [n, ""]) for n in range(3)] == [True, False, False]
    assert sink.buffered == 4 and sink.buffered_in(second.name) == 1
    assert sink.counts(second.name).dropped == 2 and sink.counts(first.name).dropped == 0


def test_close_flushes_what_the_thread_has_not_written(client: FlakyClient) -> None:
    table = _table(KEEP)
    sink = ClickHouseSink(lambda: client, [table], batch_size=1000, flush_s=60.0)
    sink.start()  # the thread waits a minute or a full batch: close must write the rows
    for n in range(5):
        sink.add(table.name, [n, ""])
    sink.close(timeout_s=5.0)
    assert _rows(client, table) == list(range(5)) and sink.buffered == 0


def test_the_thread_writes_a_full_batch_without_waiting(client: FlakyClient) -> None:
    table = _table(KEEP)
    sink = ClickHouseSink(lambda: client, [table], batch_size=3, flush_s=60.0)
    sink.start()
    try:
        for n in range(3):
            sink.add(table.name, [n, ""])
        for _ in range(200):
            if sink.written == 3:
                break
            time.sleep(0.05)
        assert sink.written == 3
    finally:
        sink.close(timeout_s=1.0)


def test_a_table_is_declared_once() -> None:
    table = _table(KEEP)
    with pytest.raises(RelstreamError, match="twice"):
        ClickHouseSink(lambda: None, [table, table])  # type: ignore[arg-type, return-value]
