"""A bounded replay buffer of earlier labels, mixed into every step so the student does not
forget what it learnt before the stream moved on.

Two policies:
- `reservoir` (Vitter's algorithm R): every label seen so far is in the buffer with the
  same probability capacity/seen, and sampling is uniform: the whole past counts equally;
- `recency`: the buffer keeps the newest `capacity` labels (oldest evicted first) and
  samples with weights halving every `capacity / 4` labels of age: the recent past counts
  more, the old past still a little.
The buffer's content and its RNG state go into the trainer's checkpoint, so a restart
continues with exactly the buffer it had.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from student_trainer.errors import StudentTrainerError

T = TypeVar("T")
Policy = Literal["reservoir", "recency"]


class ReplayBufferError(StudentTrainerError):
    """Bad buffer parameters or a state that does not belong to a buffer."""


@dataclass
class _Entry(Generic[T]):
    item: T
    seq: int
    """Position of the item in the stream (0-based): its age is `seen - 1 - seq`."""


class ReplayBuffer(Generic[T]):
    """Bounded buffer with `add`, `sample`, `state_dict` and `load_state_dict`."""

    def __init__(self, capacity: int, policy: Policy = "reservoir", seed: int = 0) -> None:
        if capacity < 1:
            raise ReplayBufferError(f"replay buffer capacity must be >= 1, got {capacity}")
        if policy not in ("reservoir", "recency"):
            raise ReplayBufferError(f"replay policy {policy!r} is not reservoir or recency")
        self.capacity = capacity
        self.policy: Policy = policy
        self.seen = 0
        self._entries: list[_Entry[T]] = []
        self._head = 0  # recency: index of the oldest entry once the ring is full
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self._entries)

    def items(self) -> list[T]:
        """The buffered items, oldest first."""
        return [e.item for e in sorted(self._entries, key=lambda e: e.seq)]

    def add(self, item: T) -> None:
        seq = self.seen
        self.seen += 1
        if len(self._entries) < self.capacity:
            self._entries.append(_Entry(item, seq))
            return
        if self.policy == "recency":
            self._entries[self._head] = _Entry(item, seq)
            self._head = (self._head + 1) % self.capacity
            return
        slot = self._rng.randrange(self.seen)  # algorithm R: keep with p = capacity / seen
        if slot < self.capacity:
            self._entries[slot] = _Entry(item, seq)

    def extend(self, items: Sequence[T]) -> None:
        for item in items:
            self.add(item)

    def sample(self, k: int) -> list[T]:
        """Up to `k` distinct buffered items (fewer when the buffer holds fewer)."""
        k = min(k, len(self._entries))
        if k <= 0:
            return []
        if self.policy == "reservoir":
            return [e.item for e in self._rng.sample(self._entries, k)]
        half_life = max(1.0, self.capacity / 4)
        weights = [0.5 ** ((self.seen - 1 - e.seq) / half_life) for e in self._entries]
        # weighted sampling without replacement (Efraimidis-Spirakis keys u^(1/w)); the
        # oldest weight is 0.5^4, so 1/w never overflows
        keys = sorted(range(len(self._entries)),
                      key=lambda i: self._rng.random() ** (1.0 / weights[i]), reverse=True)
        return [self._entries[i].item for i in sorted(keys[:k])]

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity, "policy": self.policy, "seen": self.seen,
            "head": self._head, "entries": [(e.item, e.seq) for e in self._entries],
            "rng": self._rng.getstate(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        try:
            capacity, policy = int(state["capacity"]), state["policy"]
            entries = [_Entry(item, int(seq)) for item, seq in state["entries"]]
            seen, head, rng = int(state["seen"]), int(state["head"]), state["rng"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ReplayBufferError(f"not a replay buffer state: {exc}") from exc
        if len(entries) > capacity:
            raise ReplayBufferError(
                f"buffer state holds {len(entries)} entries, more than its capacity {capacity}")
        self.capacity, self.policy, self.seen, self._head = capacity, policy, seen, head
        self._entries = entries
        self._rng.setstate(rng)
