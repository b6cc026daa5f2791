"""How long state is kept, and the index that lets it be dropped without a table scan.

Buckets are kept for the longest window plus a slack (`Retention.keep_hours`), counted
back from the processor's clock (`clock.StreamClock.reference_ms`); an event older than
that is not counted (it could only ever fall in a window that has already passed) and,
having no bucket left to meet its id in, could not be deduplicated either. A pair in the
`requested` table is dropped once no candidate that can still be counted could be its
duplicate.

`HourIndex` remembers, per hour, the entities with state in that hour and the table
partition it was written from: Faust writes a table change (a tombstone too) to the
changelog partition of the event being processed, so a bucket may only be deleted while
an event of its own partition is in hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from streams.processor.clock import HOUR_MS


@dataclass(frozen=True)
class Retention:
    """Hours of buckets kept: the longest window plus `slack_hours` (for late events and
    redeliveries slightly behind the clock)."""

    window_hours: int = 24
    slack_hours: int = 2
    dedup_window_ms: int = 24 * HOUR_MS

    def __post_init__(self) -> None:
        if self.window_hours < 1:
            raise ValueError(f"window_hours must be ≥ 1, got {self.window_hours}")
        if self.slack_hours < 0:
            raise ValueError(f"slack_hours must be ≥ 0, got {self.slack_hours}")
        if self.dedup_window_ms < 0:
            raise ValueError(f"dedup_window_ms must be ≥ 0, got {self.dedup_window_ms}")

    @property
    def keep_hours(self) -> int:
        return self.window_hours + self.slack_hours

    def horizon_hour(self, reference_ms: int | None) -> int | None:
        """Hours below this are dropped, and events in them not counted (None: keep all)."""
        if reference_ms is None:
            return None
        return reference_ms // HOUR_MS - self.keep_hours + 1

    def requested_horizon_ms(self, horizon_hour: int | None) -> int | None:
        """A pair requested before this time is forgotten: every candidate still counted
        is at or after `horizon_hour`, more than the dedup window later."""
        if horizon_hour is None:
            return None
        return horizon_hour * HOUR_MS - self.dedup_window_ms


class HourIndex:
    """hour → {entity: table partition it was written from}."""

    def __init__(self) -> None:
        self.hours: dict[int, dict[str, int]] = {}

    def add(self, hour: int, entity: str, partition: int) -> None:
        self.hours.setdefault(hour, {})[entity] = partition

    def __len__(self) -> int:
        return sum(len(entities) for entities in self.hours.values())

    def entities(self, hours: Iterable[int]) -> set[str]:
        out: set[str] = set()
        for hour in hours:
            out.update(self.hours.get(hour, ()))
        return out

    def entities_between(self, first: int, last: int) -> list[tuple[int, str]]:
        """(hour, entity) for every hour in [first, last]."""
        return [(hour, entity) for hour, entities in self.hours.items()
                if first <= hour <= last for entity in entities]

    def take_below(self, horizon: int, partition: int) -> list[tuple[int, str]]:
        """Remove and return (hour, entity) of the hours below `horizon` written from
        `partition`."""
        out: list[tuple[int, str]] = []
        for hour in [h for h in self.hours if h < horizon]:
            entities = self.hours[hour]
            gone = [e for e, p in entities.items() if p == partition]
            for entity in gone:
                del entities[entity]
                out.append((hour, entity))
            if not entities:
                del self.hours[hour]
        return out
