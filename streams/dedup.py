"""Drop events already seen, by `event_id`: what makes a replayed file count once.

A bounded, insertion-ordered set: the oldest ids are forgotten first, so memory stays
flat on an endless stream while any realistic redelivery (a replay, a restart after a
crash) still falls inside the window.
"""

from __future__ import annotations

from collections import OrderedDict


class Deduper:
    """`seen(event_id)` is False the first time an id is offered and True afterwards."""

    def __init__(self, capacity: int = 1_000_000) -> None:
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, got {capacity}")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.duplicates = 0

    def seen(self, event_id: str) -> bool:
        if event_id in self._ids:
            self.duplicates += 1
            return True
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False

    def __len__(self) -> int:
        return len(self._ids)
