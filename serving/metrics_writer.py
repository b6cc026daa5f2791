"""Scored requests and feedback to ClickHouse, in batches, off the request path.

`submit` only appends to a bounded in-memory buffer and never blocks or raises; a
background thread inserts batches. While ClickHouse is down rows stay buffered (up to
`buffer_max` rows and `buffer_max_bytes` bytes, whichever comes first); beyond that new
rows are dropped and counted. Feedback events from the
search-log stream land in their own table and join requests by `request_id`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from relstream.core.clickhouse import LockedClient
from relstream.core.schemas import FeedbackEvent

log = logging.getLogger(__name__)

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


def _approx_bytes(item: RequestRow | FeedbackEvent) -> int:
    if isinstance(item, RequestRow):
        return item.approx_bytes()
    return _ROW_OVERHEAD + _strings_bytes(
        (item.event_id, item.request_id, item.user_id, item.item_id))


def feedback_values(event: FeedbackEvent) -> list[Any]:
    return [event.ts, event.event_id, event.request_id, event.user_id, event.item_id,
            event.action]


class MetricsWriter:
    """Bounded buffers + one flushing thread; counters readable at any time."""

    def __init__(
        self, connect: Callable[[], LockedClient], *, requests_table: str = "serving_requests",
        feedback_table: str = "serving_feedback", batch_size: int = 500, flush_s: float = 1.0,
        buffer_max: int = 100_000, buffer_max_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._connect = connect
        self.requests_table = requests_table
        self.feedback_table = feedback_table
        self._batch_size = batch_size
        self._flush_s = flush_s
        self._buffer_max = buffer_max
        self._buffer_max_bytes = buffer_max_bytes
        self._bytes = 0  # approximate size of both buffers, under `_lock`
        self._requests: deque[RequestRow] = deque()
        self._feedback: deque[FeedbackEvent] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._client: LockedClient | None = None
        self._thread: threading.Thread | None = None
        self.written = 0
        self.feedback_written = 0
        self.dropped = 0
        self.insert_failures = 0
        self.last_error = ""

    # --- request path: never blocks, never raises ---------------------------------

    def submit(self, row: RequestRow) -> None:
        self._append(self._requests, row)

    def submit_feedback(self, events: Iterable[FeedbackEvent]) -> None:
        for event in events:
            self._append(self._feedback, event)

    def _append(self, buffer: deque[Any], item: Any) -> None:
        size = _approx_bytes(item)
        with self._lock:
            if (len(self._requests) + len(self._feedback) >= self._buffer_max
                    or self._bytes + size > self._buffer_max_bytes):
                self.dropped += 1
                return
            buffer.append(item)
            self._bytes += size
            full = len(buffer) >= self._batch_size
        if full:
            self._wake.set()

    @property
    def buffered(self) -> int:
        return len(self._requests) + len(self._feedback)

    @property
    def buffered_bytes(self) -> int:
        """Approximate bytes held by the buffered rows (bounded by `buffer_max_bytes`)."""
        return self._bytes

    # --- background thread ----------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="metrics-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        backoff = self._flush_s
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            ok = self.flush()
            # Back off while ClickHouse is down, so a dead server is not hammered.
            backoff = self._flush_s if ok else min(backoff * 2, 30.0)

    def _ensure_client(self) -> LockedClient:
        if self._client is None:
            client = self._connect()
            for statement in ddl(self.requests_table, self.feedback_table):
                client.command(statement)
            self._client = client
        return self._client

    def flush(self) -> bool:
        """Insert everything buffered now; False (rows kept) if ClickHouse failed."""
        targets: list[tuple[deque[Any], str, list[str], Callable[[Any], list[Any]]]] = [
            (self._requests, self.requests_table, REQUEST_COLUMNS, RequestRow.values),
            (self._feedback, self.feedback_table, FEEDBACK_COLUMNS, feedback_values),
        ]
        for buffer, table, columns, convert in targets:
            while True:
                with self._lock:
                    batch = [buffer.popleft() for _ in range(min(self._batch_size, len(buffer)))]
                    size = sum(_approx_bytes(r) for r in batch)
                    self._bytes -= size
                if not batch:
                    break
                try:
                    self._ensure_client().insert(table, [convert(r) for r in batch], columns)
                except Exception as exc:  # any driver error: keep the rows, retry later
                    with self._lock:
                        buffer.extendleft(reversed(batch))
                        self._bytes += size
                    self.insert_failures += 1
                    if str(exc) != self.last_error:
                        log.warning("ClickHouse insert into %s failed (%d rows kept): %s",
                                    table, len(batch), exc)
                    self.last_error = str(exc)
                    return False
                if buffer is self._requests:
                    self.written += len(batch)
                else:
                    self.feedback_written += len(batch)
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread after a last flush attempt (bounded by `timeout_s`)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
        deadline = time.monotonic() + timeout_s
        while self.buffered and time.monotonic() < deadline and self.flush():
            pass


def now() -> datetime:
    return datetime.now(UTC)
