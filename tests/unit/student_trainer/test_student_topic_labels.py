"""`relstream train offline --topic`: teacher labels read back from a real broker."""

from __future__ import annotations

import pytest

from relstream.core.schemas import TeacherLabel
from relstream.core.settings import CommonSettings
from relstream.core.topics import TEACHER_LABELS
from student_trainer.topic_labels import read_label_topic

pytestmark = pytest.mark.integration


def test_reads_every_label_and_skips_garbage(stack_settings: CommonSettings,
                                             labels: list[TeacherLabel]) -> None:
    from relstream.core.kafka_io import EventProducer

    producer = EventProducer(stack_settings, client_id="test-student-topic")
    try:
        for label in labels[:3]:
            producer.send(TEACHER_LABELS, label, key=label.pair_key)
        producer.send_raw(TEACHER_LABELS, b"not json", key="bad")
        producer.send(TEACHER_LABELS, labels[3], key=labels[3].pair_key)
        producer.flush()
    finally:
        producer.close()
    got = read_label_topic(stack_settings, idle_s=3.0)
    assert sorted(lb.event_id for lb in got) == sorted(lb.event_id for lb in labels[:4])
    assert len(read_label_topic(stack_settings, idle_s=3.0, max_labels=2)) == 2
