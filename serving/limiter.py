"""Bounded concurrency for scoring: a few model slots sized to the cores, a bounded queue.

Every `/v1/score` request is admitted (counted in flight) before it takes a worker
thread; past `slots + max_queued` requests in flight the next one is refused at once with
`Overloaded` (503 + `Retry-After`) instead of queueing without bound. Admitted requests
run their model work inside `slot()`, so at most `slots` model runs (each with its
configured intra-op threads) share the cores: oversubscribing two cores with twenty
concurrent runs only adds context switches and latency, not throughput.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from serving.errors import ServingError

MAX_RETRY_AFTER_S = 30
RUN_TIME_SMOOTHING = 0.1
"""Weight of the newest run in the moving average used to estimate `Retry-After`."""


class Overloaded(ServingError):
    """Too many requests in flight (503); `retry_after_s` is when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


def usable_cores() -> int:
    """CPUs this process may run on (its affinity mask, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def default_slots(threads_per_run: int, cores: int | None = None) -> int:
    """Model runs at once so that runs × intra-op threads never exceed the cores."""
    return max(1, (cores or usable_cores()) // max(1, threads_per_run))


class RunLimiter:
    """Admission (in-flight bound) and model slots (concurrency bound) of one service."""

    def __init__(self, slots: int, max_queued: int) -> None:
        if slots < 1:
            raise ServingError(f"slots must be at least 1, got {slots}")
        if max_queued < 0:
            raise ServingError(f"max_queued must be 0 or more, got {max_queued}")
        self.slots = slots
        self.max_queued = max_queued
        self._slots = threading.BoundedSemaphore(slots)
        self._lock = threading.Lock()
        self.in_flight = 0
        self.running = 0
        self.rejected = 0
        self.admitted = 0
        self._run_s = 0.0  # moving average of one slot's hold time

    @property
    def queued(self) -> int:
        """Admitted requests not (yet) holding a slot."""
        return max(0, self.in_flight - self.running)

    def retry_after_s(self) -> int:
        """Seconds until the queue ahead would have drained at the recent run time."""
        with self._lock:
            ahead, run_s = self.in_flight, self._run_s
        wait = ahead * run_s / self.slots
        return min(MAX_RETRY_AFTER_S, max(1, math.ceil(wait)))

    @contextmanager
    def admit(self) -> Iterator[None]:
        """Count a request in flight for the block, or raise `Overloaded` (never blocks)."""
        with self._lock:
            limit = self.slots + self.max_queued
            full = self.in_flight >= limit
            if full:
                self.rejected += 1
            else:
                self.in_flight += 1
                self.admitted += 1
        if full:
            raise Overloaded(
                f"server busy: {limit} requests in flight ({self.slots} running, "
                f"{self.max_queued} queued); retry later", self.retry_after_s())
        try:
            yield
        finally:
            with self._lock:
                self.in_flight -= 1

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one of the model slots for the block (waits for a free one)."""
        self._slots.acquire()
        start = time.perf_counter()
        with self._lock:
            self.running += 1
        try:
            yield
        finally:
            held = time.perf_counter() - start
            with self._lock:
                self.running -= 1
                self._run_s += RUN_TIME_SMOOTHING * (held - self._run_s) if self._run_s else held
            self._slots.release()

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return {"slots": self.slots, "max_queued": self.max_queued,
                    "in_flight": self.in_flight, "running": self.running,
                    "queued": max(0, self.in_flight - self.running),
                    "admitted": self.admitted, "rejected": self.rejected}
