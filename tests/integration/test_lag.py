"""`relstream streams lag`: a consumer group's lag read from the real broker."""

from __future__ import annotations

import pytest
from kafka import KafkaConsumer, KafkaProducer

from relstream.core.settings import CommonSettings
from relstream.core.topics import SEARCH_LOG, topic_name
from streams.errors import StreamsError
from streams.lag import group_lag, wait_caught_up


def test_lag_counts_what_a_group_has_not_committed(stack_settings: CommonSettings) -> None:
    topic = topic_name(SEARCH_LOG, stack_settings.topic_prefix)
    config = stack_settings.kafka_client_config()
    producer = KafkaProducer(**config)
    for i in range(10):
        producer.send(topic, key=f"q{i}".encode(), value=b"{}")
    producer.flush()
    producer.close()

    fresh = group_lag(stack_settings, "never-started", SEARCH_LOG)
    assert (fresh.committed, fresh.total, fresh.behind) == (0, 10, 10)

    consumer = KafkaConsumer(topic, **config, group_id="reader", enable_auto_commit=False,
                             auto_offset_reset="earliest")
    seen = 0
    while seen < 10:
        seen += sum(len(batch) for batch in consumer.poll(timeout_ms=1000).values())
    consumer.commit()
    consumer.close()

    lines: list[str] = []
    done = wait_caught_up(lambda: group_lag(stack_settings, "reader", SEARCH_LOG),
                          poll_s=0.1, timeout_s=30, say=lines.append)
    assert (done.committed, done.behind) == (10, 0)
    assert lines and "10/10 committed, 0 behind" in lines[0]


def test_lag_of_a_missing_topic_says_what_to_check(stack_settings: CommonSettings) -> None:
    elsewhere = stack_settings.model_copy(update={"topic_prefix": "never-created-"})
    with pytest.raises(StreamsError, match="does not exist"):
        group_lag(elsewhere, "reader", SEARCH_LOG)


def test_wait_gives_up_after_its_timeout(stack_settings: CommonSettings) -> None:
    producer = KafkaProducer(**stack_settings.kafka_client_config())
    producer.send(topic_name(SEARCH_LOG, stack_settings.topic_prefix), value=b"{}")
    producer.flush()
    producer.close()
    with pytest.raises(StreamsError, match="1 records behind"):
        wait_caught_up(lambda: group_lag(stack_settings, "never-started", SEARCH_LOG),
                       poll_s=0.1, timeout_s=0.5, say=lambda _: None)
