"""The labelling worker (`relstream teacher run`): label requests in, teacher labels out.

Per polled batch (`run_consumer` gives at most `teacher_batch_max` records, or what came
within `teacher_batch_wait_ms`): repeated pairs collapse to one; pairs already in the
label cache are answered without the model (their label is already on the
teacher-labels topic, keyed by pair, so nothing is sent again); the rest go to the
backend in one call. Labels are sent and flushed, then cached; `run_consumer` commits the
offsets only after the handler returned, so a killed worker relabels at most one batch.
Requests without an `item` are filled from an optional catalog file; if the item is still
unknown, or the teacher's output does not parse, the request goes to the dead-letter topic
with the reason and the raw output, and the worker goes on.
When the teacher's server cannot be reached (down at start, restarting), the worker keeps
the batch and tries again with exponential backoff, one log line per try, until the server
answers or the worker is stopped; stopped, it commits nothing, so no request is lost.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

from relstream.core.kafka_io import Consumed, ConsumerStats, EventProducer, run_consumer
from relstream.core.retry import Attempt, Backoff, RetryStopped, retry
from relstream.core.schemas import CatalogItem, LabelRequest, TeacherLabel
from relstream.core.topics import LABEL_REQUESTS, TEACHER_LABELS
from teacher_worker.backends.protocol import LabelFailure, TeacherBackend
from teacher_worker.errors import TeacherUnavailableError, TeacherWorkerError
from teacher_worker.label_cache import LabelCache
from teacher_worker.metrics import BatchMetrics, MetricsWriter

log = logging.getLogger(__name__)

SOURCE = "teacher-worker"


def _location(consumed: Consumed) -> str:
    r = consumed.record
    return f"{r.topic}/{r.partition}/{r.offset}"


class LabelHandler:
    """The per-batch logic, apart from Kafka so it can be tested and reused."""

    def __init__(
        self, backend: TeacherBackend, producer: EventProducer, cache: LabelCache,
        metrics: MetricsWriter | None = None, catalog: Mapping[str, CatalogItem] | None = None,
        worker_id: str | None = None, stop: threading.Event | None = None,
        retry_max_s: float = 30.0,
    ) -> None:
        self.backend = backend
        self.producer = producer
        self.cache = cache
        self.metrics = metrics
        self.catalog = dict(catalog or {})
        self.worker_id = worker_id or f"{socket.gethostname()}-{os.getpid()}"
        self.stop = stop or threading.Event()
        self.retry_max_s = retry_max_s
        self.labelled = 0
        self.failures = 0
        self.retries = 0

    def _label(self, requests: list[LabelRequest]) -> list[TeacherLabel | LabelFailure]:
        """`backend.label`, tried again with backoff while the teacher is unavailable."""

        def unavailable(attempt: Attempt) -> None:
            self.retries += 1
            log.warning("teacher unavailable (try %d), %d request(s) kept, next try in "
                        "%.1f s: %s", self.retries, len(requests), attempt.wait_s,
                        attempt.error)

        try:
            return retry(lambda: self.backend.label(requests),
                         retry_on=TeacherUnavailableError,
                         backoff=Backoff(0.5, 2.0, self.retry_max_s), on_retry=unavailable,
                         sleep=self.stop.wait)
        except RetryStopped as stopped:
            raise TeacherWorkerError("stopped while the teacher was unavailable; the batch "
                                     "stays uncommitted") from stopped.last

    def __call__(self, batch: list[Consumed]) -> None:
        t0 = time.perf_counter()
        distinct: dict[str, tuple[LabelRequest, Consumed]] = {}
        for consumed in batch:
            event = consumed.event
            if not isinstance(event, LabelRequest):
                self.producer.dead_letter(
                    SOURCE, f"expected a label_request, got {type(event).__name__}",
                    event.to_bytes(), _location(consumed))
                continue
            if event.item is None and event.item_id in self.catalog:
                event = event.model_copy(update={"item": self.catalog[event.item_id]})
            distinct.setdefault(event.pair_key, (event, consumed))
        hits = self.cache.known(distinct)
        todo = [(req, c) for key, (req, c) in distinct.items() if key not in hits]
        tokens_before = getattr(self.backend, "tokens_generated", 0)
        results = self._label([req for req, _ in todo]) if todo else []
        labels: list[TeacherLabel] = []
        unparsable = 0
        for (req, consumed), result in zip(todo, results, strict=True):
            if isinstance(result, LabelFailure):
                unparsable += bool(result.raw_output)  # bad requests carry no model output
                original = json.dumps({"request": json.loads(req.to_bytes()),
                                       "raw_output": result.raw_output})
                self.producer.dead_letter(SOURCE, result.reason, original, _location(consumed))
            else:
                self.producer.send(TEACHER_LABELS, result, key=result.pair_key)
                labels.append(result)
        # The cache may only claim labels that Kafka has acknowledged.
        self.producer.flush()
        self.cache.put(labels)
        self.labelled += len(labels)
        self.failures += len(todo) - len(labels)
        latency = time.perf_counter() - t0
        tokens = getattr(self.backend, "tokens_generated", 0) - tokens_before
        mix = Counter(label.grade for label in labels)
        row = BatchMetrics(
            worker=self.worker_id, batch_size=len(batch), distinct_pairs=len(distinct),
            cache_hits=len(hits), labelled=len(labels), parse_failures=unparsable,
            latency_s=latency, new_tokens=tokens, tokens_per_s=tokens / latency if latency else 0,
            grade_e=mix["E"], grade_s=mix["S"], grade_c=mix["C"], grade_i=mix["I"],
        )
        if self.metrics is not None:
            self.metrics.write(row)
        log.info("batch of %d: %d distinct, %d cached, %d labelled, %d unparsable, %d other "
                 "failures, %.2fs", len(batch), len(distinct), len(hits), len(labels),
                 unparsable, len(todo) - len(labels) - unparsable, latency)


def run_worker(
    settings: Any, backend: TeacherBackend, *, catalog: Mapping[str, CatalogItem] | None = None,
    stop: threading.Event | None = None, idle_exit_s: float | None = None,
) -> ConsumerStats:
    """Consume label requests until stopped (SIGTERM/SIGINT or `stop`), labelling them."""
    from relstream.core.broker_wait import wait_for_broker
    from relstream.core.clickhouse import get_client

    stop = stop or threading.Event()
    previous: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    # A broker down at start is waited for (one log line per try), not a crash.
    if not wait_for_broker(settings.kafka_client_config(), "teacher worker", stop=stop):
        return ConsumerStats()
    producer = EventProducer(settings, client_id=SOURCE)
    cache = LabelCache(settings.cache_path())
    try:
        metrics: MetricsWriter | None = MetricsWriter(
            get_client(settings), settings.teacher_metrics_table)
    except Exception as exc:  # metrics are best effort; labelling must not depend on them
        log.warning("teacher metrics disabled: %s", exc)
        metrics = None
    handler = LabelHandler(backend, producer, cache, metrics, catalog, stop=stop,
                           retry_max_s=settings.teacher_retry_max_s)
    log.info("teacher worker %s: group %s, backend %s, cache %s (%d labels)",
             handler.worker_id, settings.teacher_group_id, backend.health(), cache.path,
             len(cache))
    try:
        return run_consumer(
            settings, [LABEL_REQUESTS], settings.teacher_group_id, handler, producer=producer,
            max_batch=settings.teacher_batch_max, max_wait_ms=settings.teacher_batch_wait_ms,
            stop=stop, idle_exit_s=idle_exit_s,
        )
    except TeacherWorkerError as exc:
        if not stop.is_set():
            raise
        log.info("teacher worker stopped: %s", exc)
        return ConsumerStats()
    finally:
        for sig, handler_before in previous.items():
            signal.signal(sig, handler_before)
        producer.close()
        cache.close()
