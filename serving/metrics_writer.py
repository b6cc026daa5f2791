"""Scored requests and feedback to ClickHouse, in batches, off the request path.

`submit` only appends to a bounded in-memory buffer and never blocks or raises; a
background thread inserts batches (`relstream.core.clickhouse_sink`). While ClickHouse is
down rows stay buffered (up to `buffer_max` rows and `buffer_max_bytes` bytes, whichever
comes first); beyond that new rows are dropped and counted. Feedback events from the
search-log stream land in their own table and join requests by `request_id`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relstream.core import clickhouse_sink as sink
from relstream.core.clickhouse import LockedClient
from relstream.core.schemas import FeedbackEvent

REQUEST_COLUMNS = [
    "ts", "request_id", "experiment", "user_id", "arm", "model_name", "model_version",
    "query", "item_ids", "scores", "positions", "latency_ms",
]
FEEDBACK_COLUMNS = ["ts", "event_id", "request_id", "user_id", "item_id", "action"]


def ddl(requests_table: str, feedback_table: str) -> list[str]:
    """CREATE statements of both tables (idempotent)."""
    return [
        f"""CREATE TABLE IF NOT EXISTS {requests_table} (
            ts DateTime64(3, 'UTC'), request_id String, experiment LowCardinality(String),
            user_id String, arm LowCardinality(String), model_name LowCardinality(String),
            model_version String, query String, item_ids Array(String),
            scores Array(Nullable(Float64)), positions Array(UInt16), latency_ms Float64
        ) ENGINE = MergeTree ORDER BY (experiment, arm, ts)""",
        # Replaying a log twice must not double-count: one row per event_id survives.
        f"""CREATE TABLE IF NOT EXISTS {feedback_table} (
            ts DateTime64(3, 'UTC'), event_id String, request_id String, user_id String,
            item_id String, action LowCardinality(String)
        ) ENGINE = ReplacingMergeTree ORDER BY (request_id, event_id)""",
    ]


_ROW_OVERHEAD = 400
"""Bytes a buffered row costs besides its strings: the object, timestamp and numbers."""
_STR_OVERHEAD = 56
"""Bytes of a CPython str object before its characters (49 for ASCII, more otherwise)."""


def _strings_bytes(strings: Iterable[str]) -> int:
    return sum(_STR_OVERHEAD + len(s) for s in strings)


def served_positions(scores: list[float | None]) -> list[int]:
    """1-based display position of each item when shown by score, best first.

    Unknown items (null score) go last; ties keep the request order.
    """
    order = sorted(range(len(scores)), key=lambda k: (scores[k] is None, -(scores[k] or 0.0)))
    positions = [0] * len(scores)
    for rank, k in enumerate(order, 1):
        positions[k] = rank
    return positions


@dataclass(frozen=True)
class RequestRow:
    request_id: str
    experiment: str
    user_id: str
    arm: str
    model_name: str
    model_version: str
    query: str
    item_ids: list[str]
    scores: list[float | None]
    latency_ms: float
    ts: datetime

    def approx_bytes(self) -> int:
        """What the row holds in memory, roughly: strings by length, 32 bytes a score."""
        return (_ROW_OVERHEAD + 32 * len(self.scores) + _strings_bytes(self.item_ids)
                + _strings_bytes((self.request_id, self.experiment, self.user_id, self.arm,
                                  self.model_name, self.model_version, self.query)))

    def values(self) -> list[Any]:
        return [
            self.ts, self.request_id, self.experiment, self.user_id, self.arm, self.model_name,
            self.model_version, self.query, self.item_ids, self.scores,
            served_positions(self.scores), self.latency_ms,
        ]


def feedback_bytes(event: FeedbackEvent) -> int:
    """Approximate bytes a buffered feedback event holds (`RequestRow.approx_bytes`' twin)."""
    return _ROW_OVERHEAD + _strings_bytes(
        (event.event_id, event.request_id, event.user_id, event.item_id))


def feedback_values(event: FeedbackEvent) -> list[Any]:
    return [event.ts, event.event_id, event.request_id, event.user_id, event.item_id,
            event.action]


# Scored requests are what the A/B report is computed from: a ClickHouse outage must not
# lose them, so both tables keep rows across failed inserts (retried with backoff) and,
# once the shared bounds are reached, refuse new rows rather than evict queued ones.
REQUESTS_POLICY = sink.TablePolicy(
    on_failure=sink.OnFailure.KEEP, when_full=sink.WhenFull.REFUSE_NEW)
FEEDBACK_POLICY = sink.TablePolicy(
    on_failure=sink.OnFailure.KEEP, when_full=sink.WhenFull.REFUSE_NEW)


class MetricsWriter(sink.SinkCounts):
    """Both tables in one `sink.ClickHouseSink` with one flushing thread; counters readable at
    any time. The bounds (`buffer_max` rows, `buffer_max_bytes` bytes) are shared by the
    two tables."""

    def __init__(
        self, connect: Callable[[], LockedClient], *, requests_table: str = "serving_requests",
        feedback_table: str = "serving_feedback", batch_size: int = 500, flush_s: float = 1.0,
        buffer_max: int = 100_000, buffer_max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self.requests_table = requests_table
        self.feedback_table = feedback_table
        requests_ddl, feedback_ddl = ddl(requests_table, feedback_table)
        self._sink = sink.ClickHouseSink(connect, [
            sink.SinkTable(requests_table, REQUEST_COLUMNS, REQUESTS_POLICY, ddl=requests_ddl,
                           to_values=RequestRow.values, size_of=RequestRow.approx_bytes),
            sink.SinkTable(feedback_table, FEEDBACK_COLUMNS, FEEDBACK_POLICY, ddl=feedback_ddl,
                           to_values=feedback_values, size_of=feedback_bytes),
        ], batch_size=batch_size, flush_s=flush_s, max_backoff_s=30.0, max_rows=buffer_max,
            max_bytes=buffer_max_bytes, name="metrics-writer")

    # --- request path: never blocks, never raises ---------------------------------

    def submit(self, row: RequestRow) -> None:
        self._sink.add(self.requests_table, row)

    def submit_feedback(self, events: Iterable[FeedbackEvent]) -> None:
        self._sink.add_many(self.feedback_table, events)

    # --- counters -------------------------------------------------------------------

    @property
    def written(self) -> int:
        return self._sink.counts(self.requests_table).written

    @property
    def feedback_written(self) -> int:
        return self._sink.counts(self.feedback_table).written

    # --- writing --------------------------------------------------------------------

    def start(self) -> None:
        self._sink.start()

    def flush(self) -> bool:
        """Insert everything buffered now; False (rows kept) if ClickHouse failed."""
        return self._sink.flush()

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread after a last flush attempt (bounded by `timeout_s`)."""
        self._sink.close(timeout_s)


def now() -> datetime:
    return datetime.now(UTC)
