"""Feed a simulated world through the labelling path: catalog and label requests to Kafka,
then the real teacher worker turns the requests into teacher labels.

Label requests are every (query, shown item) pair of the world's searches, in event-time
order, stamped with the search's time; the worker's label cache answers repeated pairs.
This stands in for the stream processor's sampling policy (`streams/processor/`) where a
test or a benchmark wants every pair labelled, fast and deterministically.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from relstream.core.kafka_io import EventProducer
from relstream.core.schemas import LabelRequest, SearchEvent, decode_search_log_line
from relstream.core.settings import CommonSettings
from relstream.core.topics import LABEL_REQUESTS


def search_events(world_dir: Path) -> Iterator[SearchEvent]:
    with open(Path(world_dir) / "search_log.jsonl", encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                event = decode_search_log_line(line)
                if isinstance(event, SearchEvent):
                    yield event


def label_requests(world_dir: Path, limit: int | None = None) -> list[LabelRequest]:
    """One request per (search, shown item), first-seen pairs only, in event-time order."""
    seen: set[str] = set()
    out: list[LabelRequest] = []
    for search in search_events(world_dir):
        for result in search.results:
            req = LabelRequest(ts=search.ts, event_id=f"{search.event_id}-{result.position}",
                               query=search.query, item_id=result.item_id,
                               source_event_id=search.event_id, reasons=["world-feed"])
            if req.pair_key in seen:
                continue
            seen.add(req.pair_key)
            out.append(req)
            if limit is not None and len(out) >= limit:
                return out
    return out


def send_requests(settings: CommonSettings, requests: list[LabelRequest]) -> int:
    producer = EventProducer(settings, client_id="world-feed")
    try:
        for req in requests:
            producer.send(LABEL_REQUESTS, req, key=req.pair_key)
        producer.flush()
    finally:
        producer.close()
    return len(requests)


def run_teacher(settings: CommonSettings, world_dir: Path, backend: Any = None, *,
                idle_exit_s: float = 3.0, stop: threading.Event | None = None) -> Any:
    """The real labelling worker (`teacher_worker.worker.run_worker`) over the requests,
    with the world's catalog to fill items; returns its consumer stats."""
    from relstream.core.shop_files import load_catalog
    from teacher_worker.backends.lexical_backend import LexicalTeacher
    from teacher_worker.settings import TeacherSettings
    from teacher_worker.worker import run_worker

    teacher_settings = TeacherSettings(**settings.model_dump())
    return run_worker(teacher_settings, backend or LexicalTeacher(),
                      catalog=load_catalog(world_dir), stop=stop, idle_exit_s=idle_exit_s)
