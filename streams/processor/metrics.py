"""Label-request and aggregate rows for ClickHouse, buffered and written off the hot path.

The Faust loop only appends to in-memory buffers (a `relstream.core.clickhouse_sink`); `flush`
(run in a worker thread by the processor's timer) writes them in batches. ClickHouse trouble
is logged and the rows are dropped: metrics must never stall or crash the stream.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from relstream.core import clickhouse_sink as sink
from relstream.core.clickhouse import get_client
from relstream.core.settings import CommonSettings

REQUESTS_TABLE = "stream_label_requests"
AGGREGATES_TABLE = "stream_aggregates"
MAX_BUFFERED = 200_000

_STAT_COLUMNS = [f"{c}_{w}" for w in ("1h", "24h")
                 for c in ("searches", "impressions", "clicks", "add_to_carts", "purchases")]

DDL = (
    f"""CREATE TABLE IF NOT EXISTS {REQUESTS_TABLE} (
        ts DateTime64(3, 'UTC'), event_id String, query String, item_id String,
        priority Float64, reasons Array(String), source_event_id String,
        long_tail UInt8, new_item UInt8
    ) ENGINE = MergeTree ORDER BY (ts, query)""",
    f"""CREATE TABLE IF NOT EXISTS {AGGREGATES_TABLE} (
        ts DateTime64(3, 'UTC'), view LowCardinality(String), query String, item_id String,
        {", ".join(f"{c} UInt64" for c in _STAT_COLUMNS)},
        ctr_1h Float64, ctr_24h Float64
    ) ENGINE = MergeTree ORDER BY (view, ts)""",
)

REQUEST_COLUMNS = ["ts", "event_id", "query", "item_id", "priority", "reasons",
                   "source_event_id", "long_tail", "new_item"]
AGGREGATE_COLUMNS = ["ts", "view", "query", "item_id", *_STAT_COLUMNS, "ctr_1h", "ctr_24h"]


# Metrics must never stall or crash the stream: a failed insert drops its rows (and the
# rest of what is buffered), and a full buffer refuses new rows rather than block.
REQUESTS_POLICY = sink.TablePolicy(
    on_failure=sink.OnFailure.DROP, when_full=sink.WhenFull.REFUSE_NEW, max_rows=MAX_BUFFERED)
AGGREGATES_POLICY = sink.TablePolicy(
    on_failure=sink.OnFailure.DROP, when_full=sink.WhenFull.REFUSE_NEW, max_rows=MAX_BUFFERED)


class LabelRequestRows(Protocol):
    """Where the state's label requests go as ClickHouse rows: a `MetricsWriter`, or the
    batch engine's `ForwardedMetrics` (to its sink process)."""

    def label_request(self, ts: datetime, event_id: str, query: str, item_id: str,
                      priority: float, reasons: list[str], source_event_id: str,
                      long_tail: bool, new_item: bool) -> None: ...


class MetricsWriter(sink.SinkCounts):
    """Buffers rows from the event loop; `flush()` writes them (thread-safe)."""

    def __init__(self, settings: CommonSettings, enabled: bool = True) -> None:
        self.settings = settings
        self.enabled = enabled
        # One insert per table per flush, as many rows as the buffer may hold.
        self._sink = sink.ClickHouseSink(lambda: get_client(settings), [
            sink.SinkTable(REQUESTS_TABLE, REQUEST_COLUMNS, REQUESTS_POLICY, ddl=DDL[0]),
            sink.SinkTable(AGGREGATES_TABLE, AGGREGATE_COLUMNS, AGGREGATES_POLICY, ddl=DDL[1]),
        ], batch_size=MAX_BUFFERED)

    def label_request(self, ts: datetime, event_id: str, query: str, item_id: str,
                      priority: float, reasons: list[str], source_event_id: str,
                      long_tail: bool, new_item: bool) -> None:
        if self.enabled:
            self._sink.add(REQUESTS_TABLE, [ts, event_id, query, item_id, priority, reasons,
                                            source_event_id, int(long_tail), int(new_item)])

    def aggregate(self, view: str, row: dict[str, Any]) -> None:
        if self.enabled:
            values = [row["event_timestamp"], view, row.get("query", ""), row.get("item_id", "")]
            values += [int(row.get(c, 0)) for c in _STAT_COLUMNS]
            values += [row["ctr_1h"], row["ctr_24h"]]
            self._sink.add(AGGREGATES_TABLE, values)

    def flush(self) -> int:
        """Write what is buffered; returns rows written (0 when disabled or failing)."""
        if not self.enabled:
            return 0
        before = self._sink.written
        if not self._sink.flush():
            return 0
        return self._sink.written - before
