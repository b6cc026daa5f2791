"""The processor's clock: what "now" is for the windows, and how far back state is kept.

Two readings of time, both from the events counted:

- the latest event times that expiry counts back from. A query's buckets are fed by one
  search-log partition, in order, so they follow that partition's latest event time. An
  item's buckets (and the `requested` table) live on one item-delta partition, fed by
  every search-log partition, so they follow the slowest source as seen in that
  delta partition. Nothing runs in step: a backfill's fetch can hold days of one
  partition before the next starts, the query side may be hours of event time ahead of
  the item side, and the delta partitions are consumed side by side too. Counting back
  from anything faster would drop the slower ones' events as "late".
- `now_ms()`, the time the feature rows are as of: the latest event time seen (`event`
  clock, backfill and tests: deterministic) or that plus the wall time since it was seen
  (`wall` clock, live: an idle stream still moves on, so an idle query's 1 h count falls
  to 0 within the hour; a history replayed live, as the demo does, runs on its own time
  instead of reading as years old).

One clock setting (`label_clock`) picks the mode for the label budget and the windows.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal

from relstream.core.topics import PARTITIONS

HOUR_MS = 3_600_000
ClockMode = Literal["wall", "event"]


def key_partition(key: str, partitions: int = PARTITIONS) -> int:
    """Kafka's default (murmur2) partition of a key, as our producers place messages."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


class StreamClock:
    """Latest event times per source partition, and the "now" of the feature rows."""

    def __init__(self, mode: ClockMode = "wall", partitions: int = PARTITIONS,
                 max_skew_hours: float = 168.0,
                 wall: Callable[[], float] = time.monotonic) -> None:
        """`max_skew_hours`: how far the slowest partition may hold back the expiry of
        state every partition feeds (a partition that stopped carrying events would
        otherwise keep every item bucket forever)."""
        if mode not in ("wall", "event"):
            raise ValueError(f"clock mode must be 'wall' or 'event', got {mode!r}")
        if max_skew_hours < 0:
            raise ValueError(f"max_skew_hours must be ≥ 0, got {max_skew_hours}")
        self.mode = mode
        self.partitions = partitions
        self.max_skew_ms = int(max_skew_hours * HOUR_MS)
        self.wall = wall
        self.event_ms: dict[int, int] = {}
        self.delta_ms: dict[int, dict[int, int]] = {}
        self.delta_latest_ms: dict[int, int] = {}
        self.latest_ms: int | None = None
        self._latest_at = wall()

    def observe(self, partition: int | None, ts_ms: int) -> None:
        """An event of source `partition` (None: unknown) at `ts_ms` was counted."""
        if partition is not None:
            prev = self.event_ms.get(partition)
            if prev is None or ts_ms > prev:
                self.event_ms[partition] = ts_ms
        self._seen(ts_ms)

    def observe_delta(self, partition: int, source: int | None, ts_ms: int) -> None:
        """An item delta of event time `ts_ms` from search-log partition `source` (None:
        unknown) was handled on item-delta `partition`."""
        if source is not None:
            clocks = self.delta_ms.setdefault(partition, {})
            prev = clocks.get(source)
            if prev is None or ts_ms > prev:
                clocks[source] = ts_ms
        top = self.delta_latest_ms.get(partition)
        if top is None or ts_ms > top:
            self.delta_latest_ms[partition] = ts_ms
        self._seen(ts_ms)

    def _seen(self, ts_ms: int) -> None:
        if self.latest_ms is None or ts_ms > self.latest_ms:
            self.latest_ms = ts_ms
            self._latest_at = self.wall()

    def now_ms(self) -> int | None:
        """What the feature rows are as of; None before the first event."""
        if self.latest_ms is None:
            return None
        if self.mode == "event":
            return self.latest_ms
        return self.latest_ms + int(max(0.0, self.wall() - self._latest_at) * 1000)

    def reference_ms(self, partition: int) -> int | None:
        """The event time a query's state on search-log `partition` counts back from
        (None: nothing counted there yet)."""
        return self.event_ms.get(partition)

    def delta_reference_ms(self, partition: int) -> int | None:
        """The event time item state on item-delta `partition` counts back from: the
        slowest source partition's latest delta there, not further back than
        `max_skew_hours` behind the latest (None: nothing handled there yet)."""
        top = self.delta_latest_ms.get(partition)
        if top is None:
            return None
        floor = top - self.max_skew_ms
        clocks = self.delta_ms.get(partition, {})
        if len(clocks) < self.partitions:
            return floor  # a source not heard from yet may still bring anything
        return max(floor, min(clocks.values()))
