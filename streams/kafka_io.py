"""kafka-python producer and consumer loop for the non-Faust services.

`EventProducer` sends typed events with `acks=all` and idempotence, using each event's
time as the Kafka timestamp; `send_raw_many` is its bulk path for replay. `run_consumer`
is an at-least-once loop: it decodes a batch, dead-letters what does not decode, hands
the rest to a handler, flushes the producer and only then commits. A crash between
handling and commit means the batch is handled again, which is why every consumer keys
its effects on `event_id` or the pair key.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from kafka.partitioner import DefaultPartitioner, murmur2
from kafka.structs import OffsetAndMetadata

from relstream.settings import CommonSettings
from streams.errors import SchemaError
from streams.schemas import DeadLetter, Event, decode_event, ts_millis, utcnow
from streams.topics import DEAD_LETTER, topic_name

log = logging.getLogger(__name__)

MAX_DEAD_LETTER_ORIGINAL = 64_000
"""Bytes of the original message kept in a dead letter (the size is recorded separately)."""


class KeyHashPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """kafka-python's default partitioner with the key hash remembered per key.

    Same choice as the default (murmur2 of the key, as the Java client, so Faust and
    every other producer agree on a key's partition; a random partition without a key),
    but the pure-Python murmur2 — about a tenth of a send — runs once per distinct key:
    replay sends every event of a query under the same key.
    """

    def __init__(self, max_keys: int = 200_000) -> None:
        self._hashes: dict[bytes, int] = {}
        self._max_keys = max_keys

    def partition(  # type: ignore[no-untyped-def]
        self, topic, key, serialized_key, value, serialized_value, cluster
    ) -> int:
        if serialized_key is None:
            return super().partition(  # type: ignore[no-any-return]
                topic, key, serialized_key, value, serialized_value, cluster)
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        hashed = self._hashes.get(serialized_key)
        if hashed is None:
            if len(self._hashes) >= self._max_keys:
                self._hashes.clear()  # bounded memory; hashes are cheap to redo
            hashed = self._hashes[serialized_key] = murmur2(serialized_key) & 0x7FFFFFFF
        return sorted(partitions)[hashed % len(partitions)]  # type: ignore[no-any-return]


class EventProducer:
    """Sends events to logical topics (the settings' prefix is applied here)."""

    def __init__(self, settings: CommonSettings, client_id: str, **overrides: Any) -> None:
        self.settings = settings
        self.client_id = client_id
        config: dict[str, Any] = {
            **settings.kafka_client_config(),
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": 5,
            "batch_size": 256 * 1024,
            "max_request_size": 2 * 1024 * 1024,
            "compression_type": None,
            "partitioner": KeyHashPartitioner(),
        }
        config.update(overrides)
        self._producer = KafkaProducer(**config)
        self.sent = 0
        self.dead_lettered = 0
        self._errors: list[BaseException] = []

    def _on_error(self, exc: BaseException) -> None:
        self._errors.append(exc)

    def send_raw(
        self, topic: str, value: bytes, key: str | None = None, timestamp_ms: int | None = None
    ) -> None:
        """Send bytes to a logical topic; delivery errors surface at the next `flush()`."""
        future = self._producer.send(
            topic_name(topic, self.settings.topic_prefix), value=value,
            key=key.encode() if key is not None else None, timestamp_ms=timestamp_ms,
        )
        future.add_errback(self._on_error)
        self.sent += 1

    def send_raw_many(
        self, topic: str, records: Iterable[tuple[bytes, str | None, int | None]]
    ) -> int:
        """Send (value, key, timestamp_ms) records to one logical topic; returns the count.

        `send_raw` in a loop, minus the per-call topic lookup and attribute work: for
        replay, where that is a noticeable share of kafka-python's ~40 µs a send.
        """
        name = topic_name(topic, self.settings.topic_prefix)
        send, on_error = self._producer.send, self._on_error
        count = 0
        for value, key, timestamp_ms in records:
            send(name, value=value, key=None if key is None else key.encode(),
                 timestamp_ms=timestamp_ms).add_errback(on_error)
            count += 1
        self.sent += count
        return count

    def send(self, topic: str, event: Event, key: str | None = None) -> None:
        self.send_raw(topic, event.to_bytes(), key, ts_millis(event.ts))

    def dead_letter(
        self, source: str, reason: str, original: bytes | str, location: str | None = None
    ) -> None:
        """Send what could not be processed to the dead-letter topic, with the reason."""
        raw = original.encode() if isinstance(original, str) else original
        letter = DeadLetter(
            ts=utcnow(), source=source, reason=reason[:2000],
            original=raw[:MAX_DEAD_LETTER_ORIGINAL].decode("utf-8", errors="replace"),
            original_size=len(raw), location=location,
        )
        log.warning("dead-letter from %s at %s: %s", source, location, reason[:200])
        self.send(DEAD_LETTER, letter, key=source)
        self.dead_lettered += 1

    def flush(self, timeout_s: float | None = 60.0) -> None:
        """Wait for every send; raise if any failed (so offsets are not committed)."""
        self._producer.flush(timeout=timeout_s)
        if self._errors:
            first, self._errors = self._errors[0], []
            raise first

    def close(self, timeout_s: float = 10.0) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        finally:
            self._producer.close(timeout=timeout_s)


@dataclass(frozen=True)
class Consumed:
    """A decoded event and the record it came from."""

    event: Any
    record: ConsumerRecord


@dataclass
class ConsumerStats:
    records: int = 0
    handled: int = 0
    dead_lettered: int = 0
    batches: int = 0
    commits: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)


def make_consumer(
    settings: CommonSettings, topics: Iterable[str], group_id: str | None, **overrides: Any
) -> KafkaConsumer:
    """A consumer on logical topics with manual commits and short group timeouts."""
    config: dict[str, Any] = {
        **settings.kafka_client_config(),
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "session_timeout_ms": 6000,
        "heartbeat_interval_ms": 1000,
        "max_poll_interval_ms": 600_000,  # teacher batches can take minutes on CPU
        "fetch_max_bytes": 16 * 1024 * 1024,
        "max_partition_fetch_bytes": 4 * 1024 * 1024,
    }
    config.update(overrides)
    consumer = KafkaConsumer(**config)
    names = [topic_name(t, settings.topic_prefix) for t in topics]
    if names:
        consumer.subscribe(names)
    return consumer


def _location(record: ConsumerRecord) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


def run_consumer(
    settings: CommonSettings,
    topics: list[str],
    group_id: str,
    handler: Callable[[list[Consumed]], None],
    *,
    producer: EventProducer,
    max_batch: int = 256,
    max_wait_ms: int = 500,
    stop: threading.Event | None = None,
    idle_exit_s: float | None = None,
    decode: Callable[[bytes], Any] = decode_event,
) -> ConsumerStats:
    """At-least-once loop: decode → dead-letter the bad → handle → flush → commit."""
    stats = ConsumerStats()
    consumer = make_consumer(settings, topics, group_id, max_poll_records=max_batch)
    last_data = time.monotonic()
    try:
        while stop is None or not stop.is_set():
            polled = consumer.poll(timeout_ms=max_wait_ms, max_records=max_batch)
            records = [r for batch in polled.values() for r in batch]
            if not records:
                if idle_exit_s is not None and time.monotonic() - last_data > idle_exit_s:
                    break
                continue
            last_data = time.monotonic()
            stats.records += len(records)
            good: list[Consumed] = []
            for record in records:
                stats.by_topic[record.topic] = stats.by_topic.get(record.topic, 0) + 1
                try:
                    good.append(Consumed(decode(record.value), record))
                except SchemaError as exc:
                    producer.dead_letter(group_id, str(exc), record.value or b"",
                                         _location(record))
                    stats.dead_lettered += 1
            if good:
                handler(good)
                stats.handled += len(good)
            producer.flush()
            consumer.commit(_next_offsets(records))
            stats.batches += 1
            stats.commits += 1
    finally:
        consumer.close(autocommit=False)
    return stats


def _next_offsets(records: list[ConsumerRecord]) -> dict[TopicPartition, OffsetAndMetadata]:
    """The offset to commit per partition: one past the last record handled."""
    last: dict[TopicPartition, int] = {}
    for r in records:
        tp = TopicPartition(r.topic, r.partition)
        last[tp] = max(last.get(tp, -1), r.offset)
    return {tp: OffsetAndMetadata(off + 1, "", -1) for tp, off in last.items()}
