"""Read every teacher label currently on the `teacher-labels` topic (offline training).

Reads from the earliest offset without a consumer group (nothing is committed), until
the topic has been idle for `idle_s`; undecodable records are skipped and counted, since
the teacher worker already dead-letters what it cannot produce cleanly.
"""

from __future__ import annotations

import logging
import time

from relstream.core.schemas import TeacherLabel, decode_event
from relstream.core.settings import CommonSettings
from relstream.core.topics import TEACHER_LABELS

log = logging.getLogger(__name__)


def read_label_topic(settings: CommonSettings | None = None, idle_s: float = 5.0,
                     max_labels: int = 0) -> list[TeacherLabel]:
    """All teacher labels on the topic now (or the first `max_labels`)."""
    from relstream.core.kafka_io import make_consumer

    settings = settings or CommonSettings()
    consumer = make_consumer(settings, [TEACHER_LABELS], group_id=None)
    labels: list[TeacherLabel] = []
    skipped = 0
    last = time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            polled = consumer.poll(timeout_ms=500, max_records=1000)
            records = [r for batch in polled.values() for r in batch]
            if records:
                last = time.monotonic()
            for record in records:
                try:
                    event = decode_event(record.value)
                except Exception:  # SchemaError: a bad record is not ours to stop on
                    skipped += 1
                    continue
                if isinstance(event, TeacherLabel):
                    labels.append(event)
            if max_labels and len(labels) >= max_labels:
                break
    finally:
        consumer.close(autocommit=False)
    log.info("read %d teacher labels from %s (%d skipped)", len(labels), TEACHER_LABELS, skipped)
    return labels[:max_labels] if max_labels else labels
