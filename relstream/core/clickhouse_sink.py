"""One way to write rows to ClickHouse: bounded per-table buffers, batched inserts, and a
failure policy stated for each table where the table is declared.

Producers call `add`, which only appends to memory: it never blocks on ClickHouse and
never raises. `flush` (called by the owner, or by the optional background thread that
`start` runs) inserts what is buffered, `batch_size` rows per insert. Two choices are made
per table, explicitly (`TablePolicy`):

- `on_failure`: what a failed insert does to its rows. `KEEP` puts them back and they are
  retried (the background thread backs off while ClickHouse is down); `DROP` sheds them,
  and with them everything the table holds, so a DROP table never carries rows past a
  failed flush (counted in `dropped`).
- `when_full`: what happens to a row added while the table's bounds (or the sink-wide
  ones) are reached. `REFUSE_NEW` drops the new row; `DROP_OLDEST` evicts the oldest rows
  of that table to make room. Either way the row count goes to `dropped`.

Memory is bounded by rows and, where the table gives a `size_of`, by approximate bytes;
`close` makes a last flush attempt. Counters (written, dropped, failures) are kept per
table and can be read at any time.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from relstream.core.errors import RelstreamError

log = logging.getLogger(__name__)


class OnFailure(enum.Enum):
    """What a failed insert does to the rows it carried."""

    KEEP = "keep"
    """Put them back (first in line) and retry later: nothing accepted is lost."""
    DROP = "drop"
    """Count them as dropped, with everything else the table holds, and go on."""


class WhenFull(enum.Enum):
    """What `add` does when the buffer bounds are reached."""

    REFUSE_NEW = "refuse_new"
    """Drop the row being added; what is already buffered stays."""
    DROP_OLDEST = "drop_oldest"
    """Evict the table's oldest rows until the new one fits."""


@dataclass(frozen=True)
class TablePolicy:
    """Failure and overflow policy of one table, and its own buffer bounds (None: only the
    sink-wide bounds apply)."""

    on_failure: OnFailure
    when_full: WhenFull
    max_rows: int | None = None
    max_bytes: int | None = None


@dataclass(frozen=True)
class SinkTable:
    """A table the sink writes: its columns, policy and how buffered rows become values."""

    name: str
    columns: Sequence[str]
    policy: TablePolicy
    ddl: str = ""
    """CREATE statement run once on each new connection, before the first insert."""
    to_values: Callable[[Any], list[Any]] | None = None
    """Buffered row -> column values; None: rows are added as value lists already."""
    size_of: Callable[[Any], int] | None = None
    """Approximate bytes a buffered row holds; None: rows count 0 bytes (rows bound only)."""


@dataclass
class TableCounts:
    written: int = 0
    dropped: int = 0
    """Rows shed: refused or evicted when full, or lost with a failed insert (DROP)."""
    failures: int = 0
    """Failed insert attempts (a connection that cannot be made counts too)."""


class SinkClient(Protocol):
    """What the sink needs of a ClickHouse client (`relstream.core.clickhouse.LockedClient`)."""

    def command(self, sql: str, parameters: dict[str, Any] | None = None) -> Any: ...

    def insert(self, table: str, rows: list[list[Any]], column_names: list[str]) -> None: ...


@dataclass
class _Buffer:
    table: SinkTable
    rows: deque[tuple[Any, int]] = field(default_factory=deque)  # (row, its approx bytes)
    bytes: int = 0
    counts: TableCounts = field(default_factory=TableCounts)


class ClickHouseSink:
    """Bounded per-table buffers, batched inserts, one optional flushing thread."""

    def __init__(
        self, connect: Callable[[], SinkClient], tables: Sequence[SinkTable], *,
        batch_size: int = 500, flush_s: float = 1.0, max_backoff_s: float = 30.0,
        max_rows: int | None = None, max_bytes: int | None = None,
        name: str = "clickhouse-sink",
    ) -> None:
        if len({t.name for t in tables}) != len(tables):
            raise RelstreamError("a table is declared twice in one sink")
        self._connect = connect
        self._buffers = {t.name: _Buffer(t) for t in tables}
        self._batch_size = max(1, batch_size)
        self._flush_s = flush_s
        self._max_backoff_s = max_backoff_s
        self._max_rows = max_rows
        self._max_bytes = max_bytes
        self._name = name
        self._lock = threading.Lock()  # guards buffers, byte totals and counters
        self._rows = 0  # rows in all buffers, under `_lock`
        self._bytes = 0  # approximate bytes in all buffers, under `_lock`
        self._client: SinkClient | None = None
        self._client_lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error = ""

    # --- producers: never block on ClickHouse, never raise --------------------------

    def add(self, table: str, row: Any) -> bool:
        """Buffer one row; False when the policy dropped it (the buffer was full)."""
        buf = self._buffers[table]
        size = buf.table.size_of(row) if buf.table.size_of is not None else 0
        policy = buf.table.policy
        with self._lock:
            while not self._fits(buf, size):
                if policy.when_full is WhenFull.DROP_OLDEST and buf.rows:
                    _, old_size = buf.rows.popleft()
                    self._account(buf, -1, -old_size)
                    buf.counts.dropped += 1
                    continue
                buf.counts.dropped += 1
                return False
            buf.rows.append((row, size))
            self._account(buf, 1, size)
            full = len(buf.rows) >= self._batch_size
        if full:
            self._wake.set()
        return True

    def add_many(self, table: str, rows: Iterable[Any]) -> None:
        for row in rows:
            self.add(table, row)

    def _fits(self, buf: _Buffer, size: int) -> bool:
        policy = buf.table.policy
        return not (
            (policy.max_rows is not None and len(buf.rows) >= policy.max_rows)
            or (policy.max_bytes is not None and buf.bytes + size > policy.max_bytes)
            or (self._max_rows is not None and self._rows >= self._max_rows)
            or (self._max_bytes is not None and self._bytes + size > self._max_bytes))

    def _account(self, buf: _Buffer, rows: int, size: int) -> None:
        buf.bytes += size
        self._rows += rows
        self._bytes += size

    # --- counters -------------------------------------------------------------------

    def counts(self, table: str) -> TableCounts:
        """A copy of one table's counters."""
        with self._lock:
            return replace(self._buffers[table].counts)

    def _total(self, attr: str) -> int:
        with self._lock:
            return sum(getattr(b.counts, attr) for b in self._buffers.values())

    @property
    def written(self) -> int:
        return self._total("written")

    @property
    def dropped(self) -> int:
        return self._total("dropped")

    @property
    def failures(self) -> int:
        return self._total("failures")

    @property
    def buffered(self) -> int:
        return self._rows

    @property
    def buffered_bytes(self) -> int:
        """Approximate bytes held by the buffered rows (bounded by `max_bytes`)."""
        return self._bytes

    def buffered_in(self, table: str) -> int:
        return len(self._buffers[table].rows)

    # --- writing --------------------------------------------------------------------

    def connect(self) -> SinkClient:
        """The client, connected and with every table created (raises if that fails)."""
        with self._client_lock:
            if self._client is None:
                client = self._connect()
                for buf in self._buffers.values():
                    if buf.table.ddl:
                        client.command(buf.table.ddl)
                self._client = client
            return self._client

    def flush(self) -> bool:
        """Insert what is buffered now, table by table; False if an insert failed (the
        flush stops there, and each table's policy decides what became of its rows)."""
        for buf in self._buffers.values():
            with self._lock:
                left = len(buf.rows)  # rows added during the flush wait for the next one
            while left > 0:
                with self._lock:
                    n = min(self._batch_size, left, len(buf.rows))
                    batch = [buf.rows.popleft() for _ in range(n)]
                    size = sum(s for _, s in batch)
                    self._account(buf, -n, -size)
                if not batch:
                    break
                left -= n
                convert = buf.table.to_values
                try:
                    values = [convert(r) if convert else r for r, _ in batch]
                    self.connect().insert(buf.table.name, values,
                                          column_names=list(buf.table.columns))
                except Exception as exc:  # any driver error: the table's policy decides
                    self._failed(buf, batch, size, exc)
                    return False
                with self._lock:
                    buf.counts.written += n
        return True

    def _failed(self, failed: _Buffer, batch: list[tuple[Any, int]], size: int,
                exc: Exception) -> None:
        with self._lock:
            failed.counts.failures += 1
            if failed.table.policy.on_failure is OnFailure.KEEP:
                failed.rows.extendleft(reversed(batch))
                self._account(failed, len(batch), size)
                what = f"{len(batch)} rows kept"
            else:
                failed.counts.dropped += len(batch)
                what = f"{len(batch)} rows dropped"
            # DROP tables carry nothing past a failed flush: while ClickHouse is down they
            # shed at each flush instead of filling up to their bounds.
            for buf in self._buffers.values():
                if buf.table.policy.on_failure is OnFailure.DROP and buf.rows:
                    buf.counts.dropped += len(buf.rows)
                    self._account(buf, -len(buf.rows), -buf.bytes)
                    buf.rows.clear()
            message = str(exc)
            changed = message != self.last_error
            self.last_error = message
        if changed:  # a dead server fails the same way at every retry: say it once
            log.warning("ClickHouse insert into %s failed (%s): %s", failed.table.name, what,
                        message)

    # --- background thread ----------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        backoff = self._flush_s
        while not self._stop.is_set():
            self._wake.wait(backoff)
            self._wake.clear()
            ok = self.flush()
            # Back off while ClickHouse is down, so a dead server is not hammered.
            backoff = self._flush_s if ok else min(backoff * 2, self._max_backoff_s)

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop the thread, then flush until empty, a failure, or `timeout_s`."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
        deadline = time.monotonic() + timeout_s
        while self.buffered and time.monotonic() < deadline and self.flush():
            pass


class SinkCounts:
    """The counters a writer built on one `ClickHouseSink` (its `_sink`) shows its users."""

    _sink: ClickHouseSink

    @property
    def written(self) -> int:
        """Rows inserted."""
        return self._sink.written

    @property
    def dropped(self) -> int:
        """Rows refused by a full buffer, or shed with a failed insert by a DROP table."""
        return self._sink.dropped

    @property
    def failures(self) -> int:
        """Inserts that failed."""
        return self._sink.failures

    @property
    def last_error(self) -> str:
        return self._sink.last_error

    @property
    def buffered(self) -> int:
        """Rows waiting in the buffers."""
        return self._sink.buffered

    @property
    def buffered_bytes(self) -> int:
        """Approximate bytes the buffered rows hold (bounded by the tables' policies)."""
        return self._sink.buffered_bytes
