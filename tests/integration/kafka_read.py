"""Test helper: read a whole topic back, up to its end offsets at the time of the call."""

from __future__ import annotations

from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from relstream.core.settings import CommonSettings
from relstream.core.topics import topic_name


def read_topic(settings: CommonSettings, logical: str, timeout_s: float = 30.0
               ) -> list[ConsumerRecord]:
    import time

    consumer = KafkaConsumer(**settings.kafka_client_config(),
                             enable_auto_commit=False, fetch_max_bytes=32 * 1024 * 1024)
    name = topic_name(logical, settings.topic_prefix)
    try:
        tps = [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        out: list[ConsumerRecord] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < end[tp] for tp in tps):
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {name} took over {timeout_s} s")
            for records in consumer.poll(timeout_ms=500, max_records=10_000).values():
                out.extend(records)
        return out
    finally:
        consumer.close()
