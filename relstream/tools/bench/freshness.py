"""`relstream bench freshness`: from a search event entering Kafka to a model trained on its
label serving requests, stage by stage.

One trial chains the real components in one process, each hand-off through the real
broker: the search event is produced and consumed (feature: its item's content row is
pushed to the Feast online store), a label request is produced and consumed, the real
labelling handler (`teacher_worker.worker.LabelHandler`, stand-in or transformers
backend) labels it onto `teacher-labels`, the trainer consumes the label and takes its
step (test-then-train), the candidate is exported to ONNX (parity check and the gate's
validation scoring included), published (atomic rename + `model-updates` event), and
serving's own `ModelPool` follows that event until the new version answers a score call.
The baseline is one bare Kafka hop (produce → consume of a small event), measured in the
same trials: the floor of every stage that crosses the broker.
Not included: the batching waits of the long-running services (the teacher's
`teacher_batch_wait_ms`, poll intervals) and the gate cadence, which in production
dominates freshness (a candidate every `online_gate_every_labels` labels or M minutes).
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path
from typing import Any

from relstream.core.reporting import median, percentile
from relstream.core.settings import CommonSettings

log = logging.getLogger(__name__)
STAGES = ("feature", "label_request", "teacher", "training", "export", "publish", "swap")


class Hop:
    """A consumer parked at the end of one logical topic, waiting for the next event."""

    def __init__(self, settings: CommonSettings, logical: str) -> None:
        from kafka import KafkaConsumer, TopicPartition

        from relstream.core.topics import topic_name

        self.consumer = KafkaConsumer(**settings.kafka_client_config(),
                                      enable_auto_commit=False)
        name = topic_name(logical, settings.topic_prefix)
        parts = None
        for _ in range(100):
            parts = self.consumer.partitions_for_topic(name)
            if parts:
                break
            time.sleep(0.1)
        self.tps = [TopicPartition(name, p) for p in sorted(parts or [])]
        self.consumer.assign(self.tps)
        self.consumer.seek_to_end(*self.tps)
        for tp in self.tps:
            self.consumer.position(tp)  # resolve the end offset now, not at the first poll

    def wait(self, match: Any, timeout_s: float = 60.0) -> tuple[Any, Any]:
        """The first (event, record) after the parked position for which `match(event)`."""
        from relstream.core.schemas import decode_event

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=50).values():
                for record in batch:
                    event = decode_event(record.value)
                    if match(event):
                        return event, record
        raise TimeoutError(f"no matching event on {self.tps[0].topic} within {timeout_s} s")

    def close(self) -> None:
        self.consumer.close()


def run_freshness(settings: Any, *, trials: int = 5, warm_labels: int = 40,
                  progress: bool = True) -> list[dict[str, Any]]:
    """Measure `trials` end-to-end trials; returns the bench rows (see module docstring)."""
    import tempfile

    from feature_store.client import item_content_row, push_rows
    from feature_store.config import apply_repo
    from feature_store.definitions import ITEM_CONTENT
    from relstream.core.kafka_io import Consumed, EventProducer
    from relstream.core.schemas import LabelRequest, SearchEvent, ShownResult, TeacherLabel, utcnow
    from relstream.core.shop_files import load_catalog
    from relstream.core.topics import LABEL_REQUESTS, MODEL_UPDATES, SEARCH_LOG, TEACHER_LABELS
    from relstream.tools.compare_versions import stream_labels
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate
    from serving.model_pool import ModelPool
    from serving.stream_followers import model_update_handler
    from student_trainer.encoders import load_tokenizer
    from student_trainer.online import publisher
    from student_trainer.online.trainer import LabelRecord, OnlineTrainer, validation_metrics
    from teacher_worker.backends.lexical_backend import LexicalTeacher
    from teacher_worker.label_cache import LabelCache
    from teacher_worker.worker import LabelHandler

    tmp = Path(tempfile.mkdtemp(prefix="relstream-fresh-"))
    world = simulate(SimConfig(out=tmp / "world", items=120, days=1, searches=80))
    catalog = load_catalog(world)
    store = apply_repo(settings)
    producer = EventProducer(settings, client_id="bench-freshness")
    backend = LexicalTeacher()
    handler = LabelHandler(backend, producer, LabelCache(tmp / "cache.sqlite"), None, catalog)
    trainer = OnlineTrainer(settings, load_tokenizer(), producer=producer)
    trainer.init_fresh()
    warm = stream_labels(world, warm_labels)  # a validation set for the gate to score on
    trainer.handle([LabelRecord(lb, "warm/0", k) for k, lb in enumerate(warm)], catalog)
    pool = ModelPool(settings.registry_dir())
    follow = model_update_handler(pool)
    holder = pool.holder(trainer.name)
    hops = {t: Hop(settings, t) for t in (SEARCH_LOG, LABEL_REQUESTS, TEACHER_LABELS,
                                          MODEL_UPDATES)}
    items = list(catalog.values())
    results: list[dict[str, float]] = []
    try:
        for n in range(trials):
            item = items[n % len(items)]
            query = f"{item.title.split()[0]} {item.category.split('>')[-1].strip()} t{n}"
            now = utcnow()
            search = SearchEvent(ts=now, event_id=f"fresh-{uuid.uuid4().hex}",
                                 request_id=uuid.uuid4().hex, user_id="bench", query=query,
                                 results=[ShownResult(item_id=item.item_id, position=1)])
            t: dict[str, float] = {}
            t0 = time.perf_counter()
            producer.send(SEARCH_LOG, search, key=query)
            producer.flush()
            hops[SEARCH_LOG].wait(lambda e, s=search: getattr(e, "event_id", "") == s.event_id)
            t["hop"] = time.perf_counter() - t0
            push_rows(store, ITEM_CONTENT, [item_content_row(item, now)])
            t["feature"] = time.perf_counter() - t0
            req = LabelRequest(ts=now, event_id=uuid.uuid4().hex, query=query,
                               item_id=item.item_id, source_event_id=search.event_id)
            producer.send(LABEL_REQUESTS, req, key=req.pair_key)
            producer.flush()
            event, record = hops[LABEL_REQUESTS].wait(
                lambda e, r=req: getattr(e, "event_id", "") == r.event_id)
            t["label_request"] = time.perf_counter() - t0
            handler([Consumed(event, record)])
            label, lrec = hops[TEACHER_LABELS].wait(
                lambda e, r=req: isinstance(e, TeacherLabel) and e.request_event_id == r.event_id)
            t["teacher"] = time.perf_counter() - t0
            trainer.handle([LabelRecord(label, f"{lrec.topic}/{lrec.partition}", lrec.offset)],
                           catalog)
            t["training"] = time.perf_counter() - t0
            val = trainer.validation.items()
            metrics = validation_metrics(trainer.student, trainer.tokenizer, val)
            staged = publisher.stage_candidate(
                trainer.root, trainer.name, trainer.student, trainer.tokenizer,
                metrics=metrics, config={}, training_window={"bench": n},
                parent_version=trainer.published_version)
            t["export"] = time.perf_counter() - t0
            version = publisher.publish_and_announce(trainer.root, trainer.name, staged,
                                                     producer)
            t["publish"] = time.perf_counter() - t0
            update, urec = hops[MODEL_UPDATES].wait(
                lambda e, v=version: getattr(e, "version", None) == v)
            follow([Consumed(update, urec)])
            with holder.lease() as model:
                assert model.version == version, (model.version, version)
                model.scorer.score(query, ["bench item | category: bench"])
            t["swap"] = time.perf_counter() - t0
            results.append(t)
            if progress:
                print(f"trial {n + 1}/{trials}: " + ", ".join(
                    f"{k} {v:.3f}s" for k, v in t.items()), flush=True)
    finally:
        for hop in hops.values():
            hop.close()
        producer.close()
        pool.close()
    return _rows(results)


def _rows(results: list[dict[str, float]]) -> list[dict[str, Any]]:
    """Per-stage durations (differences of the cumulative marks), medians over trials."""
    rows: list[dict[str, Any]] = []
    hop = [r["hop"] for r in results]
    rows.append({"stage": "baseline: one Kafka hop", "median_s": median(hop),
                 "p90_s": percentile(hop, 90), "share_of_total": float("nan"),
                 "x_kafka_hop": 1.0})
    totals = [r["swap"] for r in results]
    prev = None
    for stage in STAGES:
        d = [r[stage] - (r[prev] if prev else 0.0) for r in results]
        rows.append({"stage": stage, "median_s": median(d), "p90_s": percentile(d, 90),
                     "share_of_total": median(d) / median(totals),
                     "x_kafka_hop": median(d) / median(hop)})
        prev = stage
    rows.append({"stage": "total: search in Kafka -> new model serves", "median_s":
                 median(totals), "p90_s": percentile(totals, 90), "share_of_total": 1.0,
                 "x_kafka_hop": median(totals) / median(hop)})
    return rows
