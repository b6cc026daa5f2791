"""A bounded set of the most recent event ids, for dropping redelivered events.

A teacher worker killed between producing labels and committing its input labels the
batch again, under the same event ids (they are derived from the request ids); the
trainer keeps the last `capacity` ids it saw and skips a label whose id is among them.
Oldest ids leave first, so memory stays bounded (~100 bytes an id).
"""

from __future__ import annotations

from collections import OrderedDict


class RecentIds:
    """Insertion-ordered set of at most `capacity` ids."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity={capacity}: must be >= 1")
        self.capacity = capacity
        self._ids: OrderedDict[str, None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._ids)

    def __contains__(self, event_id: object) -> bool:
        return event_id in self._ids

    def add(self, event_id: str) -> bool:
        """Remember `event_id`; False when it was already there (a repeat)."""
        if event_id in self._ids:
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return True

    def state_dict(self) -> list[str]:
        return list(self._ids)

    def load_state_dict(self, ids: list[str]) -> None:
        self._ids = OrderedDict.fromkeys(ids[-self.capacity:])
