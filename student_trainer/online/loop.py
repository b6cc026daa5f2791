"""`run_online`: the Kafka side of the continuous trainer, with offsets in the checkpoint.

The consumer assigns itself every partition of `teacher-labels` and `catalog` (no group
rebalancing: one trainer per model) and seeks the label partitions to the offsets stored
in the trainer's checkpoint, so the weights and the offsets always agree. Item text comes
from the compacted `catalog` topic, read from the beginning into memory before any label
(and kept up to date while running); it is the robust join: no Feast import, no online
store to be up, and compaction keeps the latest version of every item. Offsets are also
committed to the group for monitoring, after each checkpoint; they are never read back.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from relstream.core import registry
from relstream.core.errors import SchemaError
from relstream.core.kafka_io import EventProducer, make_consumer
from relstream.core.retry import Backoff, NotYet, retry
from relstream.core.schemas import (
    CatalogEvent,
    CatalogItem,
    TeacherLabel,
    decode_event,
    normalize_query,
)
from relstream.core.topics import CATALOG, TEACHER_LABELS, topic_name
from student_trainer.online.checkpoint import load_checkpoint, save_checkpoint
from student_trainer.online.prequential import GroundTruth
from student_trainer.online.progress import ProgressReporter
from student_trainer.online.settings import OnlineSettings
from student_trainer.online.trainer import LabelRecord, OnlineTrainer

log = logging.getLogger(__name__)
SOURCE = "online-trainer"


@dataclass
class RunStats:
    """What one run of the loop did (the cumulative counters are in the checkpoint)."""

    started_from: str = ""
    labels: int = 0
    catalog_items: int = 0
    checkpoints: int = 0
    gates: int = 0
    counters: dict[str, int] = field(default_factory=dict)


def _partitions(consumer: Any, topic: str, timeout_s: float = 30.0) -> list[TopicPartition]:
    def listed() -> list[TopicPartition]:
        parts = consumer.partitions_for_topic(topic)
        if not parts:
            raise NotYet(f"topic {topic} has no partitions yet")
        return [TopicPartition(topic, p) for p in sorted(parts)]

    try:
        return retry(listed, retry_on=NotYet, backoff=Backoff(0.2, 1.0, 0.2),
                     deadline_s=timeout_s, what=f"listing the partitions of {topic}",
                     log_level=logging.DEBUG)
    except NotYet:
        from student_trainer.errors import StudentTrainerError

        raise StudentTrainerError(f"topic {topic} has no partitions after {timeout_s}s: "
                                  "is the broker up and were the topics created?") from None


def ground_truth(world: Path) -> GroundTruth:
    """The prequential evaluator's ground truth: a simulated world's labels and scenario
    (new-brand queries, change time), or a shop's contract files (labels.jsonl only, no
    scenario.json: grades without the new-brand split). Never used for training."""
    from relstream.core.shop_files import find, load_labels, world_file

    world_file(world, "labels.jsonl", "the ground truth the prequential points are scored on")
    if find(world, "scenario.json") is not None:
        return GroundTruth.from_world(world)
    return GroundTruth({(normalize_query(q), i): g for (q, i), g in load_labels(world).items()})


def _tp_key(tp: TopicPartition) -> str:
    return f"{tp.topic}/{tp.partition}"


def run_online(settings: OnlineSettings, *, stop: threading.Event | None = None,
               idle_exit_s: float | None = None, max_labels: int | None = None,
               points_path: Path | None = None) -> RunStats:
    """Train continuously until `stop`, SIGTERM/SIGINT, `idle_exit_s` without labels, or
    `max_labels` consumed labels in this run; checkpoint at the end."""
    import torch

    from student_trainer.encoders import load_tokenizer
    from student_trainer.online.metrics import OnlineMetrics

    torch.set_num_threads(settings.online_threads)
    # A bad --world fails here, before the broker, ClickHouse or the model are touched.
    truth = ground_truth(settings.online_world_dir) if settings.online_world_dir else None
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
    root = settings.registry_dir()
    removed = registry.clean_partial(root)
    if removed:
        log.warning("removed %d partial version dir(s) left by a crash: %s", len(removed),
                    [p.name for p in removed])
    name = settings.model_name()
    producer = EventProducer(settings, client_id=f"{SOURCE}-{name}")
    metrics = None
    try:
        from relstream.core.clickhouse import get_client

        metrics = OnlineMetrics(get_client(settings), settings.online_prequential_table,
                                settings.online_gate_table, name)
    except Exception as exc:  # metrics are best effort, training is not
        log.warning("online-trainer metrics disabled: %s", exc)
    trainer = OnlineTrainer(settings, load_tokenizer(), producer=producer, metrics=metrics,
                            truth=truth, points_path=points_path or
                            settings.state_dir / "online" / f"{name}-prequential.jsonl")
    ckpt_path = settings.checkpoint_path()
    state = load_checkpoint(ckpt_path)
    stats = RunStats()
    if state is not None:
        trainer.restore(state)
        stats.started_from = f"checkpoint {ckpt_path} ({trainer.counters['labels_seen']} labels)"
    else:
        stats.started_from = trainer.init_fresh()
    trainer.sync_registry()
    log.info("online trainer %s started from %s", name, stats.started_from)

    consumer = make_consumer(settings, [], settings.group_id(),
                             max_poll_records=settings.online_poll_max)
    # One line every online_progress_interval_s from the start: the first gate can be
    # minutes away, and a trainer that logs nothing until then looks stuck.
    progress = ProgressReporter(settings.online_progress_interval_s)
    try:
        _consume(settings, trainer, consumer, producer, stop, stats, idle_exit_s, max_labels,
                 progress)
        trainer.maybe_gate()
        save_checkpoint(ckpt_path, trainer.state_dict())
        stats.checkpoints += 1
        progress.maybe_report(trainer, force=True)
    finally:
        consumer.close(autocommit=False)
        producer.close()
    stats.counters = dict(trainer.counters)
    return stats


def _consume(settings: OnlineSettings, trainer: OnlineTrainer, consumer: Any,
             producer: EventProducer, stop: threading.Event, stats: RunStats,
             idle_exit_s: float | None, max_labels: int | None,
             progress: ProgressReporter) -> None:
    prefix = settings.topic_prefix
    label_tps = _partitions(consumer, topic_name(TEACHER_LABELS, prefix))
    catalog_tps = _partitions(consumer, topic_name(CATALOG, prefix))
    consumer.assign(label_tps + catalog_tps)
    for tp in label_tps:
        offset = trainer.offsets.get(_tp_key(tp))
        if offset is None:
            consumer.seek_to_beginning(tp)
        else:
            consumer.seek(tp, offset)
    consumer.seek_to_beginning(*catalog_tps)
    catalog: dict[str, CatalogItem] = {}
    # Read the whole catalog before the first label, so labels find their items.
    consumer.pause(*label_tps)
    ends = consumer.end_offsets(catalog_tps)
    while any(consumer.position(tp) < ends[tp] for tp in catalog_tps):
        for batch in consumer.poll(timeout_ms=500).values():
            for record in batch:
                _catalog_record(record, catalog, producer)
        progress.note(f"{trainer.name}: reading the catalog topic before the first label: "
                      f"{len(catalog):,} items so far")
    consumer.resume(*label_tps)
    log.info("catalog loaded: %d items", len(catalog))

    since_ckpt = 0
    last_data = time.monotonic()
    ckpt_path = settings.checkpoint_path()
    catalog_topic = topic_name(CATALOG, prefix)
    while not stop.is_set():
        progress.maybe_report(trainer)
        # With a rehearsal step to take, an empty poll waits only briefly and the idle time
        # goes to that step (~1 s), so a new label waits at most one step. Not 0 ms: a
        # kafka-python poll that short gives its coordinator no time to be found again
        # after a broker hiccup, and a trainer polling only that way stopped fetching.
        rehearsing = trainer.can_rehearse()
        polled = consumer.poll(timeout_ms=50 if rehearsing else 500,
                               max_records=settings.online_poll_max)
        records = [r for batch in polled.values() for r in batch]
        if not records:
            if idle_exit_s is not None and time.monotonic() - last_data > idle_exit_s:
                break
            if rehearsing:
                trainer.rehearse()
            if trainer.maybe_gate() is not None:  # the M-minutes cadence
                save_checkpoint(ckpt_path, trainer.state_dict())
                stats.checkpoints += 1
            continue
        last_data = time.monotonic()
        labels: list[LabelRecord] = []
        for record in sorted(records, key=lambda r: (r.topic, r.partition, r.offset)):
            if record.topic == catalog_topic:
                _catalog_record(record, catalog, producer)
                continue
            label = _decode_label(record, producer)
            if label is None:
                # Not trainable, but consumed: its offset must move on with the others.
                trainer.offsets[f"{record.topic}/{record.partition}"] = record.offset + 1
                trainer.counters["labels_seen"] += 1
                trainer.counters["labels_skipped"] += 1
                continue
            labels.append(LabelRecord(label, f"{record.topic}/{record.partition}",
                                      record.offset))
        if labels:
            trainer.handle(labels, catalog)
            stats.labels += len(labels)
            since_ckpt += len(labels)
        gated = trainer.maybe_gate() is not None
        stats.gates += int(gated)
        if gated or since_ckpt >= settings.online_checkpoint_every_labels:
            producer.flush()  # dead letters of this batch are out before the offsets move
            save_checkpoint(ckpt_path, trainer.state_dict())
            stats.checkpoints += 1
            since_ckpt = 0
            _commit(consumer, trainer.offsets)
        if max_labels is not None and stats.labels >= max_labels:
            break
    stats.catalog_items = len(catalog)


def _catalog_record(record: Any, catalog: dict[str, CatalogItem],
                    producer: EventProducer) -> None:
    try:
        event = decode_event(record.value)
    except SchemaError as exc:
        producer.dead_letter(SOURCE, str(exc), record.value or b"",
                             f"{record.topic}/{record.partition}/{record.offset}")
        return
    if isinstance(event, CatalogEvent):
        catalog[event.item.item_id] = event.item


def _decode_label(record: Any, producer: EventProducer) -> TeacherLabel | None:
    where = f"{record.topic}/{record.partition}/{record.offset}"
    try:
        event = decode_event(record.value)
    except SchemaError as exc:
        producer.dead_letter(SOURCE, str(exc), record.value or b"", where)
        return None
    if not isinstance(event, TeacherLabel):
        producer.dead_letter(SOURCE, f"expected a teacher_label, got {event.type}",
                             record.value or b"", where)
        return None
    return event


def _commit(consumer: Any, offsets: dict[str, int]) -> None:
    """Commit the checkpointed offsets to the group, for lag monitoring only."""
    try:
        consumer.commit({
            TopicPartition(key.rsplit("/", 1)[0], int(key.rsplit("/", 1)[1])):
            OffsetAndMetadata(off, "", -1) for key, off in offsets.items()})
    except Exception as exc:  # monitoring only: the checkpoint holds the real offsets
        log.warning("offset commit for monitoring failed: %s", exc)
