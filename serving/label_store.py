"""Teacher labels for `/v1/explain`, kept in process and keyed by pair.

Fed by the `teacher-labels` topic (a background consumer in the app) or by a JSON Lines
file of `TeacherLabel` events; the newest label of a pair wins and the oldest pairs are
evicted beyond `max_labels` labels or `max_bytes` bytes. The raw CoT text is dropped on the
way in (`/v1/explain` shows the parsed steps), so a label costs about its parsed size. A
pair that was never labelled is simply absent (404).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable

from relstream.core.cot import render_cot
from relstream.core.schemas import TeacherLabel, pair_key
from serving.api_models import ExplainResponse

_LABEL_OVERHEAD = 1000
"""Bytes a stored label costs besides its JSON text: the pydantic objects and the key."""


class LabelStore:
    """pair_key → newest `TeacherLabel`, bounded in count and bytes, thread-safe."""

    def __init__(self, max_labels: int = 200_000, max_bytes: int = 64 * 1024 * 1024) -> None:
        self._labels: OrderedDict[str, tuple[TeacherLabel, int]] = OrderedDict()
        self._max = max_labels
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._labels)

    @property
    def bytes(self) -> int:
        """Approximate bytes held: each label's JSON size plus a fixed overhead."""
        return self._bytes

    def add(self, labels: Iterable[TeacherLabel]) -> None:
        with self._lock:
            for label in labels:
                key = label.pair_key
                old = self._labels.get(key)
                if old is not None and old[0].ts > label.ts:
                    continue  # an older label replayed late must not hide the newer one
                if label.raw_cot:
                    label = label.model_copy(update={"raw_cot": ""})
                size = _LABEL_OVERHEAD + len(key) + len(label.to_bytes())
                if old is not None:
                    self._bytes -= old[1]
                self._labels[key] = (label, size)
                self._labels.move_to_end(key)
                self._bytes += size
            while self._labels and (len(self._labels) > self._max
                                    or self._bytes > self._max_bytes):
                _, (_, size) = self._labels.popitem(last=False)
                self._bytes -= size

    def get(self, query: str, item_id: str) -> TeacherLabel | None:
        found = self._labels.get(pair_key(query, item_id))
        return found[0] if found is not None else None


def explain(label: TeacherLabel, query: str) -> ExplainResponse:
    """The API body for one label: grade, distribution, CoT steps as lines, teacher."""
    return ExplainResponse(
        query=query,
        item_id=label.item_id,
        grade=label.grade,
        grade_probs={str(g): p for g, p in label.grade_probs.items()},
        steps=render_cot(label.steps.model_copy(update={"grade": label.grade})).splitlines(),
        teacher=label.teacher,
        cot=label.steps,
    )
