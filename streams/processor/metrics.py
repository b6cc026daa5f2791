"""Label-request and aggregate rows for ClickHouse, buffered and written off the hot path.

The Faust loop only appends to in-memory buffers; `flush` (run in a worker thread by the
processor's timer) writes them in batches. ClickHouse trouble is logged and the rows are
dropped: metrics must never stall or crash the stream.
"""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any

from relstream.core.settings import CommonSettings

log = logging.getLogger(__name__)

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


class MetricsWriter:
    """Buffers rows from the event loop; `flush()` writes them (thread-safe)."""

    def __init__(self, settings: CommonSettings, enabled: bool = True) -> None:
        self.settings = settings
        self.enabled = enabled
        self._lock = threading.Lock()
        self._requests: list[list[Any]] = []
        self._aggregates: list[list[Any]] = []
        self._client: Any = None
        self.written = 0
        self.dropped = 0

    def label_request(self, ts: datetime, event_id: str, query: str, item_id: str,
                      priority: float, reasons: list[str], source_event_id: str,
                      long_tail: bool, new_item: bool) -> None:
        if self.enabled:
            self._add(self._requests, [ts, event_id, query, item_id, priority, reasons,
                                       source_event_id, int(long_tail), int(new_item)])

    def aggregate(self, view: str, row: dict[str, Any]) -> None:
        if self.enabled:
            values = [row["event_timestamp"], view, row.get("query", ""), row.get("item_id", "")]
            values += [int(row.get(c, 0)) for c in _STAT_COLUMNS]
            values += [row["ctr_1h"], row["ctr_24h"]]
            self._add(self._aggregates, values)

    def _add(self, buffer: list[list[Any]], row: list[Any]) -> None:
        with self._lock:
            if len(buffer) >= MAX_BUFFERED:
                self.dropped += 1  # ClickHouse has been down a long time: shed, never block
                return
            buffer.append(row)

    def _connect(self) -> Any:
        if self._client is None:
            from relstream.core.clickhouse import get_client

            client = get_client(self.settings)
            for ddl in DDL:
                client.command(ddl)
            self._client = client
        return self._client

    def flush(self) -> int:
        """Write what is buffered; returns rows written (0 when disabled or failing)."""
        if not self.enabled:
            return 0
        with self._lock:
            requests, self._requests = self._requests, []
            aggregates, self._aggregates = self._aggregates, []
        if not requests and not aggregates:
            return 0
        try:
            client = self._connect()
            if requests:
                client.insert(REQUESTS_TABLE, requests, REQUEST_COLUMNS)
            if aggregates:
                client.insert(AGGREGATES_TABLE, aggregates, AGGREGATE_COLUMNS)
        except Exception as exc:  # any driver error: metrics are best effort
            self.dropped += len(requests) + len(aggregates)
            log.warning("writing %d metric rows to ClickHouse failed: %s",
                        len(requests) + len(aggregates), exc)
            return 0
        self.written += len(requests) + len(aggregates)
        return len(requests) + len(aggregates)
