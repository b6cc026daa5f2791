"""Feast pushes from a child process.

Feast turns every pushed row into protobufs and writes the online store row by row in
pure Python. In the Faust worker that runs on a thread, and measured with the batch
engine (py-spy, 100,000 events) it held the GIL for a third as long as the counting
itself: every push slowed the stream down. Here the worker computes the rows (they come
from its state) and hands them to a child process that owns the Feast store, so the
writes run on another core. At most `max_pending` row sets are in flight; while the child
is behind, the worker keeps the entities dirty (later changes coalesce into one row).
A row set the child could not write comes back and is marked dirty again; if the child
dies, everything in flight is, and a new child is started.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
from typing import Any

log = logging.getLogger(__name__)

Rows = dict[str, list[dict[str, Any]]]
PUSH_NICENESS = 10


def _serve(settings: Any, inbox: Any, outbox: Any) -> None:
    """The child: open the store, then push each row set it is given."""
    import os
    import signal

    from feature_store.client import push_rows
    from feature_store.config import apply_repo

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
    store = apply_repo(settings)
    outbox.put(("ready", None, None))
    while True:
        try:
            item = inbox.get(timeout=1.0)
        except queue.Empty:
            # A SIGKILLed worker cannot stop its child: without this check the child
            # lived on (found after a day of drills: a dozen idle Feast processes).
            if parent is not None and not parent.is_alive():
                return
            continue
        if item is None:
            return
        batch_id, rows = item
        pushed: dict[str, int] = {}
        try:
            for view, view_rows in rows.items():
                if view_rows:
                    pushed[view] = push_rows(store, view, view_rows,
                                             direct=settings.feast_redis_direct)
        except Exception as exc:  # reported, the worker retries the rows
            outbox.put((batch_id, False, str(exc)))
        else:
            outbox.put((batch_id, True, pushed))


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


class PushProcess:
    def __init__(self, settings: Any, max_pending: int = 2) -> None:
        self.settings = settings
        self.max_pending = max_pending
        self._ctx = multiprocessing.get_context("spawn")
        self._pending: dict[int, Rows] = {}
        self._next = 0
        self.ready = False
        self.pushed: dict[str, int] = {}
        self.restarts = 0
        self.closing = False
        """Set when the worker stops: a dead child is not replaced any more."""
        self._start()

    def _start(self) -> None:
        self._inbox: Any = self._ctx.Queue()
        self._outbox: Any = self._ctx.Queue()
        self._proc = self._ctx.Process(target=_serve, name="relstream-feast-push",
                                       args=(self.settings, self._inbox, self._outbox),
                                       daemon=True)
        self._proc.start()
        self.ready = False

    def can_take(self) -> bool:
        return self.ready and len(self._pending) < self.max_pending

    def submit(self, rows: Rows) -> None:
        self._next += 1
        self._pending[self._next] = rows
        self._inbox.put((self._next, rows))

    def poll(self, restart: bool = True) -> list[Rows]:
        """Take the child's answers; returns the row sets to mark dirty again."""
        failed: list[Rows] = []
        while True:
            try:
                batch_id, ok, detail = self._outbox.get_nowait()
            except queue.Empty:
                break
            if batch_id == "ready":
                self.ready = True
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
            log.warning("the Feast push process exited (%s); starting another",
                        self._proc.exitcode)
            failed += list(self._pending.values())
            self._pending = {}
            self.restarts += 1
            self._start()
        return failed

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def close(self, timeout_s: float = 5.0) -> list[Rows]:
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
