"""The batch engine's sink process: Feast rows, offline parquet parts and ClickHouse rows,
written from a child process.

Feast turns every pushed row into protobufs and writes the online store row by row in
pure Python. In the Faust worker that runs on a thread, and measured with the batch
engine (py-spy, 100,000 events) it held the GIL for a third as long as the counting
itself: every push slowed the stream down. Here the worker takes the window sums of its
dirty entities from its state (`StatSums`) and hands them to a child process that makes
the rows and owns every sink: the Feast store, the offline part files and the embedded
ClickHouse (label-request rows are forwarded to it too, `ForwardedMetrics`). With the
rows made in the worker and only Feast in the child, the worker's one GIL was the limit
while Feast caught up (py-spy, 200,000 events of new queries: making rows, ClickHouse
rows and parquet parts were 54 % of its busy samples, the child was idle three quarters
of the time). At most `max_pending` row sets are in flight; while the child is behind,
the worker keeps the entities dirty (later changes coalesce into one row). A row set the
child could not push to Feast comes back and is marked dirty again; if the child dies,
everything in flight is, and a new child is started. Offline rows and ClickHouse rows are
written after their Feast push, on the child's own cadence; those the child held when it
died are lost (best effort, as the Faust worker's: the next rows of each entity come).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import queue
import time
from datetime import datetime
from typing import Any

from streams.processor.feature_rows import StatSums
from streams.processor.metrics import MAX_BUFFERED

log = logging.getLogger(__name__)

PUSH_NICENESS = 10
OFFLINE_MAX_ROWS = 100_000
"""Most rows the child holds for the offline files: a part is written sooner when more wait
(30 s of a busy stream's rows were ~1 GB of dicts)."""
FULL_GC_S = 300.0
"""How often the child lets the cyclic GC walk everything it froze (`_serve`)."""
MAX_FORWARDED = MAX_BUFFERED
"""Most label-request rows the worker holds for ClickHouse between two pushes (as many as
a `MetricsWriter` buffers): past it new ones are dropped and counted, the stream goes on."""


class _Sinks:
    """The child's side: the Feast store, the offline rows and ClickHouse."""

    def __init__(self, settings: Any) -> None:
        from feature_store.config import apply_repo
        from streams.processor.aggregates import CtrPrior
        from streams.processor.metrics import MetricsWriter

        self.settings = settings
        self.store = apply_repo(settings)
        self.prior = CtrPrior(settings.ctr_prior, settings.ctr_prior_strength)
        self.metrics = MetricsWriter(settings, enabled=settings.metrics_to_clickhouse)
        self.offline: dict[str, list[dict[str, Any]]] = {}
        self.offline_held = 0
        self.offline_rows = 0
        self._metrics_flushed = self._offline_flushed = time.monotonic()

    def push(self, sums: StatSums) -> dict[str, int]:
        """Make the rows, write them to Feast (raises if that fails: nothing else is
        written then, the worker retries them), then buffer them for the other sinks."""
        from feature_store.client import push_rows
        from feature_store.definitions import ITEM_CONTENT
        from streams.processor.feature_rows import stat_rows

        rows = stat_rows(sums, self.prior)
        pushed = {view: push_rows(self.store, view, view_rows,
                                  direct=self.settings.feast_redis_direct)
                  for view, view_rows in rows.items() if view_rows}
        aggregate = self.metrics.aggregate
        for view, view_rows in rows.items():
            if view != ITEM_CONTENT:
                for row in view_rows:
                    aggregate(view, row)
        if self.settings.offline_flush_interval_s > 0:
            for view, view_rows in rows.items():
                self.offline.setdefault(view, []).extend(view_rows)
                self.offline_held += len(view_rows)
        return pushed

    def label_requests(self, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            self.metrics.label_request(*row)

    def flush(self, force: bool = False) -> dict[str, float] | None:
        """Write ClickHouse rows every `push_interval_s` and offline parts every
        `offline_flush_interval_s` or `OFFLINE_MAX_ROWS` (or now, with `force`); returns
        the counts when it wrote anything."""
        from streams.processor.app import append_offline_rows
        from streams.processor.progress import peak_rss_mb

        now, wrote = time.monotonic(), False
        if force or now - self._metrics_flushed >= self.settings.push_interval_s:
            self._metrics_flushed = now
            wrote = self.metrics.flush() > 0
        interval = self.settings.offline_flush_interval_s
        if self.offline and (force or self.offline_held >= OFFLINE_MAX_ROWS
                             or (interval > 0 and now - self._offline_flushed >= interval)):
            self._offline_flushed = now
            batch, self.offline, self.offline_held = self.offline, {}, 0
            append_offline_rows(self.settings, batch)
            self.offline_rows += sum(len(r) for r in batch.values())
            wrote = True
        if not wrote:
            return None
        return {"metrics_written": self.metrics.written, "offline_rows": self.offline_rows,
                "max_rss_mb": peak_rss_mb()}


def _serve(settings: Any, inbox: Any, outbox: Any) -> None:
    """The child: open the sinks, then write each row set it is given."""
    import os
    import signal

    # Counting must keep up with the stream; pushes coalesce while they wait (an entity
    # changed many times is pushed once), so on a busy machine the pushes yield.
    os.nice(PUSH_NICENESS)
    # A stop signal goes to the worker's whole process group (docker stop, the demo's
    # supervisor, Ctrl-C). The worker stops this child itself, after a last push through
    # it; dying on the signal first made the worker start another child (a Feast import,
    # ~10 s) to push through, and run past its grace period into a SIGKILL.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = multiprocessing.parent_process()
    _die_with_parent(parent)
    sinks = _Sinks(settings)
    # Feast's import (torch among it) leaves ~a million long-lived objects, and every
    # row set allocates tens of thousands more: each cyclic-GC pass those allocations set
    # off walked the lot (measured on 5,000-row sets: unpickling 8.2 -> 0.7 us a row,
    # ClickHouse rows 6.5 -> 2.7, 42 -> 28 us in all once frozen). So what exists is
    # frozen after the start and after each row set; rows are plain dicts and lists, freed
    # by reference counting. What libraries leave in cycles is collected every FULL_GC_S.
    gc.freeze()
    full_gc = time.monotonic()
    outbox.put(("ready", None, None))
    while True:
        try:
            item = inbox.get(timeout=min(1.0, settings.push_interval_s))
        except queue.Empty:
            # A SIGKILLed worker cannot stop its child: without this check the child
            # lived on (found after a day of drills: a dozen idle Feast processes).
            if parent is not None and not parent.is_alive():
                return
            item = ("idle", None)
        if item is None:
            if (counts := sinks.flush(force=True)) is not None:
                outbox.put(("written", None, counts))
            return
        tag, payload = item  # a row set's id, or what else the message is
        if tag == "requests":
            sinks.label_requests(payload)
        elif tag != "idle":
            try:
                pushed = sinks.push(payload)
            except Exception as exc:  # reported, the worker retries the rows
                outbox.put((tag, False, str(exc)))
            else:
                outbox.put((tag, True, pushed))
        if (counts := sinks.flush()) is not None:
            outbox.put(("written", None, counts))
        if time.monotonic() - full_gc >= FULL_GC_S:
            full_gc = time.monotonic()
            gc.unfreeze()
            gc.collect()
        gc.freeze()


def _die_with_parent(parent: Any) -> None:
    """Ask Linux to SIGKILL this process when its parent dies. The check in `_serve`'s
    loop is not enough: a parent killed while writing a row set leaves the child blocked
    mid-read of it for good (found: an orphan waiting 23 minutes in `Queue.get`)."""
    import ctypes
    import os
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass  # not Linux: the loop's check still covers a parent dead between row sets
    if parent is not None and os.getppid() != parent.pid:
        os._exit(0)  # the parent died before the request took effect


class ForwardedMetrics:
    """The worker's stand-in for `MetricsWriter.label_request`: rows wait here and go to
    the sink process with the next push (the worker never opens ClickHouse itself:
    embedded ClickHouse admits one process per data path)."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []
        self.dropped = 0

    def label_request(self, ts: datetime, event_id: str, query: str, item_id: str,
                      priority: float, reasons: list[str], source_event_id: str,
                      long_tail: bool, new_item: bool) -> None:
        if len(self.rows) >= MAX_FORWARDED:
            self.dropped += 1
            return
        self.rows.append((ts, event_id, query, item_id, priority, reasons, source_event_id,
                          long_tail, new_item))

    def take(self) -> list[tuple[Any, ...]]:
        rows, self.rows = self.rows, []
        return rows


class SinkProcess:
    """The worker's side of the child: row sets in, answers out, a new child if it dies.

    `max_pending` row sets may be in flight: with 2 (and one handed over per tick of the
    push loop) the child waited for work half the time while 600,000 rows were dirty
    (a per-second timeline of one worker on 200,000 events of new queries); with 4, all
    filled at each tick, it always has the next set queued."""

    def __init__(self, settings: Any, max_pending: int = 4) -> None:
        self.settings = settings
        self.max_pending = max_pending
        self._ctx = multiprocessing.get_context("spawn")
        self._pending: dict[int, StatSums] = {}
        self._next = 0
        self.ready = False
        self.pushed: dict[str, int] = {}
        self.written: dict[str, float] = {}
        """The child's last `metrics_written`, `offline_rows` (it counts from its start)
        and `max_rss_mb`."""
        self.restarts = 0
        self.closing = False
        """Set when the worker stops: a dead child is not replaced any more."""
        self._start()

    def _start(self) -> None:
        self._inbox: Any = self._ctx.Queue()
        self._outbox: Any = self._ctx.Queue()
        self._proc = self._ctx.Process(target=_serve, name="relstream-stream-sinks",
                                       args=(self.settings, self._inbox, self._outbox),
                                       daemon=True)
        self._proc.start()
        self.ready = False

    def can_take(self) -> bool:
        return self.ready and len(self._pending) < self.max_pending

    def submit(self, sums: StatSums) -> None:
        self._next += 1
        self._pending[self._next] = sums
        self._inbox.put((self._next, sums))

    def forward(self, label_requests: list[tuple[Any, ...]]) -> None:
        """Label-request rows for ClickHouse (a child that dies before writing them loses
        them, as a failed ClickHouse insert does: metrics are best effort)."""
        if label_requests:
            self._inbox.put(("requests", label_requests))

    def poll(self, restart: bool = True) -> list[StatSums]:
        """Take the child's answers; returns the row sets to mark dirty again."""
        failed: list[StatSums] = []
        while True:
            try:
                batch_id, ok, detail = self._outbox.get_nowait()
            except queue.Empty:
                break
            if batch_id == "ready":
                self.ready = True
                continue
            if batch_id == "written":
                self.written = detail
                continue
            rows = self._pending.pop(batch_id, None)
            if ok:
                for view, n in detail.items():
                    self.pushed[view] = self.pushed.get(view, 0) + n
            else:
                log.warning("pushing aggregates to Feast failed, will retry: %s", detail)
                if rows is not None:
                    failed.append(rows)
        if restart and not self.closing and not self._proc.is_alive():
            log.warning("the sink process exited (%s); starting another",
                        self._proc.exitcode)
            failed += list(self._pending.values())
            self._pending = {}
            self.restarts += 1
            self._start()
        return failed

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def close(self, timeout_s: float = 5.0) -> list[StatSums]:
        """Let the child finish what it was given (killed after `timeout_s`); returns what
        it could not write."""
        self.closing = True
        self._inbox.put(None)
        self._proc.join(timeout_s)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        failed = self.poll(restart=False)
        return failed + list(self._pending.values())
