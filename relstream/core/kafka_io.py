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
from kafka.partitioner import murmur2
from kafka.structs import OffsetAndMetadata

from relstream.core.errors import SchemaError
from relstream.core.schemas import DeadLetter, Event, decode_event, ts_millis
from relstream.core.settings import CommonSettings
from relstream.core.topics import DEAD_LETTER, create_missing_topics, topic_name, topic_specs

log = logging.getLogger(__name__)

"""Bytes of the original message kept in a dead letter (the size is recorded separately)."""


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

        `send_raw` in a loop, minus its per-record overhead, for replay: each distinct key
        is encoded and hashed to its partition once (murmur2, exactly as the partitioner
        would, re-read from the metadata every 10k records in case the topic grew), so
        kafka-python's own send — ~20 µs a record on one core — is nearly all that is left.
        """
        name = topic_name(topic, self.settings.topic_prefix)
        send, on_error = self._producer.send, self._on_error
        partitions = sorted(self._producer.partitions_for(name))
        routes: dict[str | None, tuple[bytes | None, int | None]] = {None: (None, None)}
        count = 0
        for value, key, timestamp_ms in records:
            route = routes.get(key)
            if route is None:
                key_bytes = key.encode()  # type: ignore[union-attr]  # None is routed
                hashed = murmur2(key_bytes) & 0x7FFFFFFF
                route = routes[key] = (key_bytes, partitions[hashed % len(partitions)])
            # Positional: (topic, value, key, headers, partition, timestamp_ms).
            send(name, value, route[0], None, route[1], timestamp_ms).add_errback(on_error)
            count += 1
            if count % 10_000 == 0:
                now = sorted(self._producer.partitions_for(name))
                if now != partitions or len(routes) > 200_000:
                    partitions, routes = now, {None: (None, None)}
        self.sent += count
        return count

    def send(self, topic: str, event: Event, key: str | None = None) -> None:
        self.send_raw(topic, event.to_bytes(), key, ts_millis(event.ts))

    def dead_letter(
        self, source: str, reason: str, original: bytes | str, location: str | None = None
    ) -> None:
        """Send what could not be processed to the dead-letter topic, with the reason."""
        letter = DeadLetter.of(source, reason, original, location)
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
        # A member that joins while a subscribed topic has no partition metadata yet (just
        # auto-created, no leader elected) is assigned nothing for it, and the rejoin that
        # fixes that waits for the next metadata refresh: 5 min by default. A teacher
        # worker in CI sat idle that long with its requests waiting ("No partition metadata
        # for topic ...-label-requests"); 10 s bounds the wait for one small request.
        "metadata_max_age_ms": 10_000,
    }
    config.update(overrides)
    consumer = KafkaConsumer(**config)
    names = [topic_name(t, settings.topic_prefix) for t in topics]
    if names:
        _await_partitions(consumer, settings, list(topics))
        consumer.subscribe(names)
    return consumer


def _await_partitions(consumer: KafkaConsumer, settings: CommonSettings, topics: list[str],
                      timeout_s: float = 30.0) -> None:
    """Create missing topics and wait until the broker reports their partitions.

    A group member that joins while a topic has no partition metadata yet is assigned
    nothing for it until a metadata refresh makes the group leader rebalance; a CI run had
    one of two teacher workers idle for two minutes that way while the other took every
    request. Subscribing only once the partitions are known closes that window.
    """
    names = {t: topic_name(t, settings.topic_prefix) for t in topics}
    missing = [t for t, name in names.items() if not consumer.partitions_for_topic(name)]
    if not missing:
        return
    specs = topic_specs(settings.topic_prefix)
    create_missing_topics(settings.kafka_client_config(), [specs[t] for t in missing])
    deadline = time.monotonic() + timeout_s
    while missing and time.monotonic() < deadline:
        time.sleep(0.2)
        missing = [t for t in missing if not consumer.partitions_for_topic(names[t])]
    if missing:
        log.warning("no partition metadata after %.0f s for %s; subscribing anyway (the "
                    "group rebalances once it arrives)", timeout_s, [names[t] for t in missing])


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
