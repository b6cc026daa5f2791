"""Teacher labels for `/v1/explain`, kept in process and keyed by pair.

Fed by the `teacher-labels` topic (a background consumer in the app) or by a JSON Lines
file of `TeacherLabel` events; the newest label of a pair wins and the oldest pairs are
evicted beyond `max_labels`. A pair that was never labelled is simply absent (404).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

from serving.api_models import ExplainResponse
from streams.cot import render_cot
from streams.schemas import TeacherLabel, decode_event, pair_key


class LabelStore:
    """pair_key → newest `TeacherLabel`, bounded, thread-safe."""

    def __init__(self, max_labels: int = 200_000) -> None:
        self._labels: OrderedDict[str, TeacherLabel] = OrderedDict()
        self._max = max_labels
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._labels)

    def add(self, labels: Iterable[TeacherLabel]) -> None:
        with self._lock:
            for label in labels:
                key = label.pair_key
                old = self._labels.get(key)
                if old is not None and old.ts > label.ts:
                    continue  # an older label replayed late must not hide the newer one
                self._labels[key] = label
                self._labels.move_to_end(key)
            while len(self._labels) > self._max:
                self._labels.popitem(last=False)

    def get(self, query: str, item_id: str) -> TeacherLabel | None:
        return self._labels.get(pair_key(query, item_id))

    def load_jsonl(self, path: Path) -> int:
        """Add every `TeacherLabel` line of `path`; returns how many were read."""
        labels = [decode_event(line) for line in path.read_text().splitlines() if line.strip()]
        found = [x for x in labels if isinstance(x, TeacherLabel)]
        self.add(found)
        return len(found)


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
