"""Trying an operation again, with exponential backoff: the one helper every call site uses.

`retry(fn, retry_on=..., backoff=Backoff(...))` calls `fn` until it returns, waiting
`first_s`, then `factor` times longer each try, up to `cap_s`, between tries. Without
jitter on purpose: the waits are what the log lines and the tests name. Every failed try
is reported once, to `on_retry` (the call site's own log line) or else as one log line.

It stops trying when `tries` tries have failed or `deadline_s` has passed (checked after
each failed try): the last error is raised again, as it was. A `sleep` that returns True
ends the wait early and raises `RetryStopped`; pass a `threading.Event`'s `wait` so a
service being stopped does not sit out its backoff. An operation whose answer is "not
yet" rather than an exception raises `NotYet` to be tried again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from relstream.core.errors import RelstreamError

log = logging.getLogger(__name__)

T = TypeVar("T")


class NotYet(RelstreamError):
    """Raised by a polled operation whose answer is "not yet": try again after a wait."""


class RetryStopped(RelstreamError):
    """The wait before the next try was cut short (the stop event was set)."""

    def __init__(self, last: BaseException) -> None:
        super().__init__(f"stopped while retrying: {last}")
        self.last = last
        """The error of the last try."""


@dataclass(frozen=True)
class Backoff:
    """Waits between tries: `first_s`, then each `factor` times the one before, at most
    `cap_s` (the first wait is `first_s` as given). `factor=1` is a fixed interval."""

    first_s: float = 1.0
    factor: float = 2.0
    cap_s: float = 30.0

    def waits(self) -> Iterator[float]:
        wait = self.first_s
        while True:
            yield wait
            wait = min(wait * self.factor, self.cap_s)


@dataclass(frozen=True)
class Attempt:
    """A failed try, as `on_retry` sees it."""

    number: int
    """1 for the first try."""
    error: BaseException
    wait_s: float
    """The wait before the next try."""
    elapsed_s: float
    """Since the first try began."""


def retry(
    fn: Callable[[], T], *, retry_on: type[BaseException] | tuple[type[BaseException], ...],
    backoff: Backoff | None = None, tries: int | None = None, deadline_s: float | None = None,
    on_retry: Callable[[Attempt], None] | None = None, what: str = "operation",
    log_level: int = logging.WARNING, sleep: Callable[[float], bool | None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`fn()`'s result, trying again after each `retry_on` error (see the module doc).

    `backoff` defaults to `Backoff()` (1 s, doubling, at most 30 s). Without `on_retry`,
    a failed try logs one line at `log_level` naming `what`. `sleep` and `clock` are
    injectable so tests need not wait.
    """
    started = clock()
    waits = (backoff or Backoff()).waits()
    number = 0
    while True:
        number += 1
        try:
            return fn()
        except retry_on as exc:
            elapsed = clock() - started
            if (tries is not None and number >= tries) or (
                    deadline_s is not None and elapsed > deadline_s):
                raise
            error: BaseException = exc
        attempt = Attempt(number, error, next(waits), elapsed)
        if on_retry is not None:
            on_retry(attempt)
        else:
            log.log(log_level, "%s failed (%s: %s); try %d, next in %.1f s", what,
                    type(error).__name__, error, number, attempt.wait_s)
        if sleep(attempt.wait_s):
            raise RetryStopped(error) from error
