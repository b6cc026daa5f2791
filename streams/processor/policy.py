"""Which query–item pairs go to the teacher: priority, dedup window and budget (pure).

Priority in [0, 1] is the mean of the signals that exist for a candidate pair:
- tail-ness of the query: 1 while the query has had at most `tail_searches` searches in
  the last 24 h (this one included), then `tail_searches / searches`;
- newness of the item: 1 for an item never shown before, falling linearly to 0 at
  `new_item_impressions` impressions in the last 24 h (new to the search traffic: a
  replay stamps the whole catalog with one time, so catalog time cannot tell);
- student uncertainty, once a student scores pairs: `1 − 2·|score − 0.5|`.

A pair of a *new query* gets priority 1 whatever those signals say: a query whose first
search in its 24 h window is less than `new_query_hours` old. A query the traffic has only
just started asking is the drift itself (a launch, a trend): the student has seen none of
its pairs, and unlike a tail query it may be a large share of the traffic at once. Averaged
with the other signals, such a head query's pairs scored 0.5 at most, and a saturated budget,
which only admits priorities near 1, turned them away: in the demo's launch only 26-41 of
~730 teacher labels were pairs of the new brand's queries, 60 % of the traffic
(docs/demo.md). The state keeps 24 h of buckets, so a query searched daily but not in the
last `24 − new_query_hours` hours counts as new again; such a query has few searches and
counts as tail anyway.

Budget: a token bucket refilled at `budget_per_minute / 60` tokens per second, holding
at most `burst`. A candidate of priority p needs `1 + reserve·burst·(1 − p)` tokens in the
bucket and takes one, so when the teacher is saturated only high-priority pairs get
through, and when it is idle every pair does. A pair requested within `dedup_window_s` of
event time is not requested again.

`clock` says what the budget is counted in: "wall" (live traffic: the bucket protects
the teacher's real capacity) or "event" (backfill: a replayed history gets the requests
its event-time span would have got live, three days replayed in seconds as many as three
live days). A replay is not processed in event-time order: the search log's partitions
run side by side, and at replay speed a second of processing skew is an hour of event
time, so a bucket refilled by "the latest event time seen" found its clock hours ahead
of most candidates and refused them. The event-time budget is therefore a bucket per
event-time window (`EventTimeWindows`): each window of `burst / rate` seconds (one minute
by default) admits `burst` requests, in whatever order its candidates arrive; the same
long-run rate and largest burst as the live bucket, minus the live bucket's carrying of
an idle window's tokens into the next.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

BudgetClock = Literal["wall", "event"]


@dataclass(frozen=True)
class PolicyParams:
    budget_per_minute: float = 120.0
    burst: float | None = None
    """Bucket size in requests; None means one minute of budget."""
    reserve: float = 0.5
    """Share of the bucket only high-priority pairs may use (0 = first come, first served)."""
    dedup_window_s: float = 24 * 3600.0
    tail_searches: int = 3
    new_item_impressions: int = 20
    new_query_hours: int = 6
    """A query whose first search in its 24 h window is younger than this is new (0: off)."""
    clock: BudgetClock = "wall"
    """What the budget counts in: wall seconds (live) or event-time seconds (backfill)."""

    def __post_init__(self) -> None:
        if self.budget_per_minute <= 0:
            raise ValueError(f"budget_per_minute must be > 0, got {self.budget_per_minute}")
        if self.burst is not None and self.burst < 1:
            raise ValueError(f"burst must be ≥ 1 request, got {self.burst}")
        if not 0.0 <= self.reserve < 1.0:
            raise ValueError(f"reserve must be in [0, 1), got {self.reserve}")
        if self.dedup_window_s < 0:
            raise ValueError(f"dedup_window_s must be ≥ 0, got {self.dedup_window_s}")
        if self.tail_searches < 1 or self.new_item_impressions < 1:
            raise ValueError("tail_searches and new_item_impressions must be ≥ 1")
        if not 0 <= self.new_query_hours < 24:
            raise ValueError(f"new_query_hours must be in [0, 24) (the state keeps 24 h), "
                             f"got {self.new_query_hours}")
        if self.clock not in ("wall", "event"):
            raise ValueError(f"clock must be 'wall' or 'event', got {self.clock!r}")

    @property
    def capacity(self) -> float:
        return self.burst if self.burst is not None else max(1.0, self.budget_per_minute)


class TokenBucket:
    """Tokens refill continuously at `rate_per_s` up to `capacity`; starts full."""

    def __init__(self, rate_per_s: float, capacity: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate_per_s
        self.capacity = capacity
        self.clock = clock
        self.tokens = capacity
        self._last = clock()

    def level(self) -> float:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self._last) * self.rate)
        self._last = now
        return self.tokens

    def try_take(self, needed: float) -> bool:
        """Take one token if at least `needed` are there."""
        if self.level() >= needed:
            self.tokens -= 1.0
            return True
        return False


class EventTimeWindows:
    """An event-time budget: each window of `capacity / rate_per_s` seconds of event time
    may admit `capacity` requests, whatever the order its events are processed in.
    Remembers the latest `keep` windows; an event older than those meets a fresh one."""

    def __init__(self, rate_per_s: float, capacity: float, keep: int = 20_000) -> None:
        self.capacity = capacity
        self.window_ms = capacity / rate_per_s * 1000.0
        self.keep = keep
        self.used: dict[int, float] = {}

    def level(self, ts_ms: int) -> float:
        """Requests the window of `ts_ms` can still admit."""
        return self.capacity - self.used.get(int(ts_ms // self.window_ms), 0.0)

    def try_take(self, needed: float, ts_ms: int) -> bool:
        """Take one from the window of `ts_ms` if at least `needed` are left there."""
        if self.level(ts_ms) < needed:
            return False
        window = int(ts_ms // self.window_ms)
        self.used[window] = self.used.get(window, 0.0) + 1.0
        if len(self.used) > self.keep:
            for old in sorted(self.used)[: len(self.used) - self.keep // 2]:
                del self.used[old]
        return True


@dataclass(frozen=True)
class Candidate:
    """A pair shown in a search, with what the policy needs to know about it."""

    query_searches_24h: int
    item_impressions_24h: int
    student_score: float | None = None
    query_age_hours: int | None = None
    """Hours since the query's first search in its 24 h window (None: not known)."""


@dataclass(frozen=True)
class Decision:
    admitted: bool
    priority: float
    reasons: list[str] = field(default_factory=list)
    rejected_by: str | None = None


def tailness(searches_24h: int, tail_searches: int) -> float:
    return 1.0 if searches_24h <= tail_searches else tail_searches / searches_24h


def newness(impressions_24h: int, new_item_impressions: int) -> float:
    return max(0.0, 1.0 - impressions_24h / new_item_impressions)


def uncertainty(score: float) -> float:
    return max(0.0, 1.0 - 2.0 * abs(score - 0.5))


class LabelRequestPolicy:
    """Decides, pair by pair, what to send to the teacher (one instance per worker)."""

    def __init__(self, params: PolicyParams,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """`clock` is the wall clock of a "wall" policy (tests pass their own); an "event"
        policy ignores it and runs on the event times given to `decide`."""
        self.params = params
        self.bucket = TokenBucket(params.budget_per_minute / 60.0, params.capacity, clock)
        self.windows = EventTimeWindows(params.budget_per_minute / 60.0, params.capacity)

    def is_duplicate(self, last_requested_ms: int | None, ts_ms: int) -> bool:
        """True when the pair was requested within the dedup window (event time)."""
        if last_requested_ms is None:
            return False
        return abs(ts_ms - last_requested_ms) < self.params.dedup_window_s * 1000

    def priority(self, cand: Candidate) -> tuple[float, list[str]]:
        p = self.params
        signals = {
            "long_tail": tailness(cand.query_searches_24h, p.tail_searches),
            "new_item": newness(cand.item_impressions_24h, p.new_item_impressions),
        }
        if cand.student_score is not None:
            signals["uncertain"] = uncertainty(cand.student_score)
        reasons = [name for name, value in signals.items() if value >= 0.5]
        if self.is_new_query(cand):
            return 1.0, [*reasons, "new_query"]
        return sum(signals.values()) / len(signals), reasons

    def decide(self, cand: Candidate, ts_ms: int | None = None) -> Decision:
        """Admit or reject one candidate shown at event time `ts_ms` (which an event-time
        budget counts in; a wall-clock one does not need it)."""
        prio, reasons = self.priority(cand)
        needed = 1.0 + self.params.reserve * self.params.capacity * (1.0 - prio)
        if self.params.clock == "event":
            if ts_ms is None:
                raise ValueError("an event-time budget needs the candidate's event time")
            admitted = self.windows.try_take(needed, ts_ms)
        else:
            admitted = self.bucket.try_take(needed)
        if admitted:
            return Decision(True, prio, reasons)
        return Decision(False, prio, reasons, rejected_by="budget")

    def is_long_tail(self, cand: Candidate) -> bool:
        return cand.query_searches_24h <= self.params.tail_searches

    def is_new_item(self, cand: Candidate) -> bool:
        return cand.item_impressions_24h < self.params.new_item_impressions

    def is_new_query(self, cand: Candidate) -> bool:
        return cand.query_age_hours is not None \
            and cand.query_age_hours < self.params.new_query_hours
