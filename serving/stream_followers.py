"""Background Kafka consumers of the service: model updates, labels, catalog, feedback.

Each runs `relstream.core.kafka_io.run_consumer` in a daemon thread until the app stops. The
handlers never raise for one bad event (that would stop the consumer). A broker that is
down (at start or later) is waited for with backoff, one log line per try, while scoring
goes on; anything else that stops a consumer is logged with its traceback and retried.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from relstream.core import topics
from relstream.core.item_text import item_text
from relstream.core.schemas import CatalogEvent, FeedbackEvent, ModelUpdate, TeacherLabel
from relstream.core.settings import CommonSettings
from serving.item_lookup import ItemLookup, MemoryItemLookup
from serving.label_store import LabelStore
from serving.metrics_writer import MetricsWriter
from serving.model_holder import NoModelLoaded
from serving.model_pool import ModelPool

log = logging.getLogger(__name__)

Handler = Callable[[list[Any]], None]


def model_update_handler(pool: ModelPool) -> Handler:
    def handle(batch: list[Any]) -> None:
        newest: dict[str, ModelUpdate] = {}
        for consumed in batch:
            event = consumed.event
            if isinstance(event, ModelUpdate):
                newest[event.name] = event  # a burst of updates: only the last one loads
        for event in newest.values():
            log.info("model update: %s v%s", event.name, event.version)
            pool.on_model_update(event.name, event.version, event.sha256 or None)

    return handle


def teacher_label_handler(store: LabelStore) -> Handler:
    def handle(batch: list[Any]) -> None:
        store.add(c.event for c in batch if isinstance(c.event, TeacherLabel))

    return handle


def warm_two_towers(pool: ModelPool, texts: list[str]) -> int:
    """Embed `texts` with every loaded two-tower version (new or changed catalog items)."""
    done = 0
    for holder in pool.holders():
        try:
            with holder.lease() as model:
                done += model.scorer.warm_items(texts)
        except NoModelLoaded:
            continue
    return done


def catalog_handler(items: MemoryItemLookup, pool: ModelPool | None = None) -> Handler:
    """Upsert catalog events; with `pool`, embed their items with the two-towers too."""

    def handle(batch: list[Any]) -> None:
        new = [c.event.item for c in batch if isinstance(c.event, CatalogEvent)]
        items.add(new)
        if pool is not None and new:
            warm_two_towers(pool, [item_text(it) for it in new])

    return handle


def feedback_handler(writer: MetricsWriter) -> Handler:
    def handle(batch: list[Any]) -> None:
        writer.submit_feedback(c.event for c in batch if isinstance(c.event, FeedbackEvent))

    return handle


class StreamFollowers:
    """Starts the configured consumers; `close` stops them."""

    def __init__(self, settings: CommonSettings, instance: str | None = None) -> None:
        self._settings = settings
        # Every replica must see every model update and label: one group per instance.
        self._instance = instance or uuid.uuid4().hex[:8]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._producer: Any = None
        self._producer_lock = threading.Lock()  # the consumer threads share one producer

    def follow(self, topic: str, group: str, handler: Handler, *, shared: bool = False) -> None:
        """Consume `topic` in a thread; `shared` groups split partitions across replicas."""
        group_id = group if shared else f"{group}-{self._instance}"
        thread = threading.Thread(
            target=self._loop, args=(topic, group_id, handler), name=f"follow-{topic}",
            daemon=True,
        )
        self._threads.append(thread)
        thread.start()

    def _loop(self, topic: str, group_id: str, handler: Handler) -> None:
        from kafka.errors import KafkaError

        from relstream.core.broker_wait import broker_problem, wait_for_broker
        from relstream.core.kafka_io import EventProducer, run_consumer
        from relstream.core.topics import create_missing_topics, topic_specs

        kafka = self._settings.kafka_client_config()
        spec = topic_specs(self._settings.topic_prefix).get(topic)
        while not self._stop.is_set():
            if not wait_for_broker(kafka, f"serving's consumer of {topic}",
                                   stop=self._stop):
                return
            try:
                if spec is not None:
                    # A consumer subscribed to a topic that does not exist yet is assigned
                    # nothing, and sees the topic only at its next metadata refresh (up to
                    # 5 min): a server started before anything was published would miss the
                    # first model update for that long.
                    create_missing_topics(kafka, [spec])
                with self._producer_lock:
                    if self._producer is None:
                        self._producer = EventProducer(self._settings, client_id="serving")
                run_consumer(self._settings, [topic], group_id, handler,
                             producer=self._producer, stop=self._stop)
            except (KafkaError, OSError) as exc:
                if broker_problem(kafka) is None:  # the broker is fine: not its fault
                    log.exception("consumer of %s failed; retrying in 5 s", topic)
                    self._stop.wait(5.0)
                else:  # the broker went away: one line, then wait for it again
                    log.warning("consumer of %s lost the Kafka broker (%s: %s)", topic,
                                type(exc).__name__, exc)
            except Exception:  # a bug: keep its traceback, pause, retry; scoring goes on
                log.exception("consumer of %s failed; retrying in 5 s", topic)
                self._stop.wait(5.0)

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=10)
        if self._producer is not None:
            self._producer.close()


def start_followers(
    settings: Any, pool: ModelPool, labels: LabelStore, writer: MetricsWriter | None,
    items: ItemLookup | None = None,
) -> StreamFollowers | None:
    """The consumers `ServingSettings` asks for, or None when none is enabled."""
    memory = items if isinstance(items, MemoryItemLookup) else None
    wanted = settings.consume_model_updates or settings.consume_teacher_labels or (
        settings.consume_feedback and writer is not None
    ) or (settings.consume_catalog and memory is not None)
    if not wanted:
        return None
    followers = StreamFollowers(settings)
    if settings.consume_model_updates:
        followers.follow(topics.MODEL_UPDATES, "serving-models", model_update_handler(pool))
    if settings.consume_teacher_labels:
        followers.follow(topics.TEACHER_LABELS, "serving-labels", teacher_label_handler(labels))
    if settings.consume_catalog and memory is not None:
        # Each replica keeps its own full copy: one group per instance, from the start.
        warm = pool if settings.warm_item_embeddings else None
        followers.follow(topics.CATALOG, "serving-catalog", catalog_handler(memory, warm))
    if settings.consume_feedback and writer is not None:
        # Feedback rows are written once per deployment, so replicas share one group.
        followers.follow(topics.SEARCH_LOG, "serving-feedback", feedback_handler(writer),
                         shared=True)
    return followers
