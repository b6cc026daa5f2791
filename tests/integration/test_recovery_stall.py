"""A Faust worker whose table restore cannot finish on its own is nudged and carries on
(`streams.processor.recovery`), on the real broker.

The stall is made the way Kafka makes one: a changelog partition whose last offset is a
transaction marker. A marker occupies an offset but is never delivered, so a
non-transactional Faust app waits for it forever ("No event received for active tp",
remaining 1). The worker must notice (no progress for `recovery_stall_s`), find with a
plain consumer that nothing but the marker is left there, finish the restore and count
the stream exactly.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from relstream.core.settings import CommonSettings
from tests.integration.test_stream_processor import (
    EXACT_COUNT_ENV,
    counts_exact,
    expected_counts,
    simulated_stream,
    start_on_catalog,
    start_worker,
    stats,
    stop,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _end_with_a_marker(settings: CommonSettings, topic: str) -> int:
    """Write the last record of a non-empty partition of `topic` again, in a committed
    transaction (the same key and value: the table's state does not change), so the
    partition now ends with a commit marker. Returns the partition."""
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    consumer = KafkaConsumer(**settings.kafka_client_config(), enable_auto_commit=False)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        tp = next(tp for tp in sorted(parts, key=lambda t: t.partition) if ends[tp] > 0)
        consumer.assign([tp])
        consumer.seek(tp, ends[tp] - 1)
        records = consumer.poll(timeout_ms=10_000, max_records=1).get(tp, [])
        assert records, f"could not read the last record of {tp}"
        last = records[0]
    finally:
        consumer.close()
    producer = KafkaProducer(**settings.kafka_client_config(),
                             transactional_id=f"relstream-test-{topic}")
    try:
        producer.init_transactions()
        producer.begin_transaction()
        producer.send(topic, key=last.key, value=last.value, partition=tp.partition)
        producer.commit_transaction()
    finally:
        producer.close()
    return tp.partition


def test_a_restore_stuck_on_a_transaction_marker_is_nudged_and_counts_exactly(
        stack_settings: CommonSettings, subprocess_env: Any, tmp_path: Path) -> None:
    from streams.processor.settings import ProcessorSettings
    from streams.replay import replay_files

    catalog, log = simulated_stream(tmp_path)
    expected = expected_counts(log)
    env = subprocess_env(**EXACT_COUNT_ENV, RELSTREAM_STREAMS_ENGINE="faust",
                         RELSTREAM_RECOVERY_STALL_S="3")
    worker_log = tmp_path / "worker.log"
    # A first worker counts the catalog into its table (changelog records to copy).
    proc = start_on_catalog(stack_settings, env, worker_log, catalog)
    app_id = ProcessorSettings(**stack_settings.model_dump()).app_id()
    changelog = f"{app_id}-catalog-changelog"
    try:
        wait_for(lambda: stats(stack_settings).get("stats", {}).get("catalog", 0) > 0, 120,
                 "the catalog to be counted", proc)
    finally:
        stop(proc)
    partition = _end_with_a_marker(stack_settings, changelog)
    # The second worker restores the tables from the changelogs: that partition's restore
    # reaches its last record and then waits for the marker's offset.
    proc = start_worker(env, worker_log)
    try:
        wait_for(lambda: stats(stack_settings).get("stats", {}).get("recovery_nudges", 0) >= 1,
                 180, "the stalled restore to be nudged", proc)
        replay_files(stack_settings, None, log)
        assert wait_for(counts_exact(stack_settings, expected), 180,
                        "exact counts in Feast after the nudge", proc) is True
        text = worker_log.read_text(errors="replace")
        assert re.search(rf"nothing but transaction markers .*{re.escape(changelog)}/"
                         rf"{partition}", text), \
            "the nudge did not say which partition held only a marker"
        assert "exiting with code" not in text
    finally:
        stop(proc)
        print(worker_log.read_text(errors="replace")[-3000:])


def test_records_between_counts_records_not_markers(stack_settings: CommonSettings) -> None:
    """The check that tells a marker from missing records, on a partition of three records
    and a commit marker."""
    from kafka import KafkaProducer

    from streams.processor.recovery import records_between

    topic = f"{stack_settings.topic_prefix}marker-check"
    producer = KafkaProducer(**stack_settings.kafka_client_config())
    for n in range(2):
        producer.send(topic, key=b"k", value=str(n).encode(), partition=0)
    producer.flush()
    producer.close()
    _end_with_a_marker(stack_settings, topic)  # offset 2: a copy of offset 1; 3: the marker
    kafka = stack_settings.kafka_client_config()
    assert records_between(kafka, topic, 0, -1, 3) == 3
    assert records_between(kafka, topic, 0, 1, 3) == 1
    assert records_between(kafka, topic, 0, 2, 3) == 0  # only the marker is left
