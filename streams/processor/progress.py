"""What a person watching the processor sees: progress lines and rate-limited repeats.

- `Progress` turns "how much is left" readings into one line per interval with done/total,
  rate and time left (the tables' restore from their changelogs after a restart, the push
  of every aggregate that follows it);
- `RepeatFilter` lets one line per interval through for each kind of repeated log record
  (numbers masked: "producer buffer full size 102" and "... 107" are one kind) and says
  how many it held back, so a loaded worker's log stays readable.

Progress lines go to stderr through a logger of their own, whatever the worker's log
level (the Faust worker runs at WARNING by default and an INFO line would be dropped).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

PROGRESS_LOGGER = "streams.processor.progress"
_NUMBER = re.compile(r"\d+(\.\d+)?")


def progress_log() -> logging.Logger:
    """The logger of progress lines: INFO and up, to stderr, not through the root's
    handlers (whose level is the worker's)."""
    log = logging.getLogger(PROGRESS_LOGGER)
    if not log.handlers:
        # The process's own stderr: the Faust worker redirects `sys.stderr` into its
        # logging, which would print each line again as a WARNING.
        handler = logging.StreamHandler(sys.__stderr__ or sys.stderr)
        handler.setFormatter(logging.Formatter("[%(asctime)s] [%(process)d] [PROGRESS] "
                                               "%(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False
    return log


@dataclass
class Progress:
    """One task's progress, fed the amount still to do; `line()` every `interval_s`.

    The total is what was left at the first reading plus whatever was added since (a
    reading above the last one grows the total), so done/total never runs backwards.
    """

    what: str
    unit: str
    interval_s: float = 10.0
    clock: Callable[[], float] = time.monotonic
    total: int = 0
    remaining: int = 0
    started: float | None = None
    _last_line: float | None = None

    def update(self, remaining: int) -> None:
        now = self.clock()
        if self.started is None:
            self.started, self.total = now, remaining
        elif remaining > self.remaining:
            self.total += remaining - self.remaining
        self.remaining = remaining

    @property
    def reported(self) -> bool:
        """Whether a line was given yet."""
        return self._last_line is not None

    @property
    def done(self) -> int:
        return self.total - self.remaining

    def line(self, force: bool = False) -> str | None:
        """The progress line when one is due (every `interval_s`, the first one after
        the first interval), else None."""
        now = self.clock()
        if self.started is None:
            return None
        if not force and now - (self._last_line or self.started) < self.interval_s:
            return None
        self._last_line = now
        elapsed = max(now - self.started, 1e-9)
        rate = self.done / elapsed
        share = self.done / self.total if self.total else 1.0
        left = f", ~{self.remaining / rate:.0f} s left" if rate > 0 and self.remaining else ""
        return (f"{self.what}: {self.done:,}/{self.total:,} {self.unit} ({share:.0%}) "
                f"in {elapsed:.0f} s, {rate:,.0f}/s{left}")


class RepeatFilter(logging.Filter):
    """Per kind of record (logger, level, message with its numbers masked): the first
    passes, then at most one per `interval_s`, which carries the count held back."""

    def __init__(self, interval_s: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[tuple[str, int, str], float] = {}
        self._held: dict[tuple[str, int, str], int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or self.interval_s <= 0:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken record is the handler's business, not ours
            return True
        key = (record.name, record.levelno, _NUMBER.sub("#", message))
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._last[key] = now
        held = self._held.pop(key, 0)
        if held:
            record.msg = (f"{message} [and {held} more like it in the last "
                          f"{now - last if last is not None else 0:.0f} s]")
            record.args = ()  # a tuple: mode's formatter wraps anything else in one
        return True


def install_repeat_filter(interval_s: float) -> RepeatFilter:
    """Rate-limit repeats on every handler of the root logger (call after the worker has
    set up logging: it replaces the root's handlers)."""
    repeat = RepeatFilter(interval_s)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RepeatFilter) for f in handler.filters):
            handler.addFilter(repeat)
    return repeat


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB: `VmHWM` of /proc/self/status, which
    starts over at exec. (`ru_maxrss` does not: a worker started by a big process, such
    as the bench holding 200,000 events, reported the parent's peak as its own.)"""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
