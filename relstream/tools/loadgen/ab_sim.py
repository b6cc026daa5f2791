"""Replay a simulated world's searches through the service and simulate users' feedback.

For each search of a world's `search_log.jsonl`, the candidate items are sent to
`/v1/score` (with the search's user and request id), shown in score order, and the
simulator's click model (`relstream.tools.simulator.sessions.feedback_for`, driven by the
world's ground-truth grades) decides clicks, carts and purchases. The feedback events go
to a sink: the `search-log` topic (so serving joins them from the stream) or the writer.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from relstream.core.schemas import (
    FeedbackEvent,
    Grade,
    SearchEvent,
    decode_search_log_line,
    normalize_query,
)
from serving.errors import ServingError
from serving.metrics_writer import served_positions

Sink = Callable[[str, list[FeedbackEvent]], None]
"""Receives (the search's query, its feedback events); the query keys the Kafka record."""


def load_searches(path: Path, limit: int | None = None) -> list[SearchEvent]:
    """The `search` events of a search log, in file order (feedback lines are skipped)."""
    out: list[SearchEvent] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if '"search"' not in line:
                continue
            event = decode_search_log_line(line)
            if isinstance(event, SearchEvent):
                out.append(event)
                if limit is not None and len(out) >= limit:
                    break
    return out


def load_grades(path: Path) -> dict[tuple[str, str], Grade]:
    """(normalised query, item_id) → grade from a labels.jsonl."""
    import json

    grades: dict[tuple[str, str], Grade] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            grades[(normalize_query(row["query"]), row["item_id"])] = row["grade"]
    return grades


def simulated_feedback(
    search: SearchEvent, request_id: str, item_ids: list[str], scores: list[float | None],
    grades: dict[tuple[str, str], Grade], rng: random.Random, shown: int = 10,
) -> list[FeedbackEvent]:
    """Feedback of one user on the items shown in score order (unlabelled pairs: I)."""
    from relstream.tools.simulator.sessions import feedback_for

    positions = served_positions(scores)
    query = normalize_query(search.query)
    listing = sorted(
        (pos, item_id, grades.get((query, item_id), "I"))
        for pos, item_id in zip(positions, item_ids, strict=True) if pos <= shown
    )
    base = search.ts.timestamp()
    return [
        FeedbackEvent(
            ts=search.ts + timedelta(seconds=ts - base), event_id=f"{request_id}-f{k}",
            request_id=request_id, user_id=search.user_id, item_id=item_id,
            action=action,  # type: ignore[arg-type]
        )
        for k, (ts, item_id, action) in enumerate(feedback_for(listing, base, rng))
    ]


@dataclass
class TrafficStats:
    searches: int = 0
    feedback: int = 0
    by_arm: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    skipped: int = 0
    """Searches that showed no results: nothing to score."""


def drive(
    http: httpx.Client, searches: Iterable[SearchEvent], grades: dict[tuple[str, str], Grade],
    sink: Sink, *, seed: int = 0, request_prefix: str = "",
) -> TrafficStats:
    """Send every search to `/v1/score`, simulate feedback, hand it to `sink` per search."""
    rng = random.Random(seed)
    stats = TrafficStats()
    for search in searches:
        item_ids = [r.item_id for r in search.results]
        if not item_ids:
            stats.skipped += 1
            continue
        request_id = f"{request_prefix}{search.request_id}"
        resp = http.post("/v1/score", json={"query": search.query, "item_ids": item_ids,
                                            "user_id": search.user_id,
                                            "request_id": request_id})
        if resp.status_code != 200:
            stats.failed += 1
            if stats.failed > 10:
                raise ServingError(f"/v1/score keeps failing: {resp.status_code} {resp.text}")
            continue
        out = resp.json()
        events = simulated_feedback(search, request_id, item_ids, out["scores"], grades, rng)
        if events:
            sink(search.query, events)
        stats.searches += 1
        stats.feedback += len(events)
        stats.by_arm[out["arm"]] = stats.by_arm.get(out["arm"], 0) + 1
    return stats


def run_world(
    settings: Any, world: Path, *, limit: int | None = None, seed: int = 0,
) -> TrafficStats:
    """Replay a world's searches through an in-process app (`relstream ab-simulate`).

    The app is built from `settings` (its A/B config, registry, ClickHouse); items come
    from the world's catalog unless settings name another source. Feedback goes straight
    to the app's metrics writer, which flushes when the app shuts down.
    """
    from fastapi.testclient import TestClient

    from serving.app import create_app

    if settings.item_source == "memory" and settings.catalog_path is None:
        settings = settings.model_copy(update={"catalog_path": world / "catalog.jsonl"})
    searches = load_searches(world / "search_log.jsonl", limit=limit)
    grades = load_grades(world / "labels.jsonl")
    app = create_app(settings)
    with TestClient(app) as http:
        writer = app.state.serving.writer
        if writer is None:
            raise ServingError("metrics are disabled (metrics_enabled=false): nothing to report")

        def to_writer(_query: str, events: list[FeedbackEvent]) -> None:
            writer.submit_feedback(events)

        return drive(http, searches, grades, to_writer, seed=seed,
                     request_prefix=f"{app.state.serving.router.config.experiment}-")


def run_against_server(
    settings: Any, url: str, world: Path, *, limit: int | None = None, seed: int = 0,
    wait_s: float = 120.0,
) -> TrafficStats:
    """Replay a world's searches through a running `relstream serve --follow`.

    Searches go to its `/v1/score` over HTTP and the simulated feedback to the
    `search-log` topic, exactly the way a shop's users and its event pipeline would: the
    server joins the feedback from the stream and writes both to the ClickHouse it owns.
    With the admin token (RELSTREAM_ADMIN_TOKEN) this waits until the server has written
    all of that feedback, so an `ab-report --server` right after sees every event.
    """
    import time
    import uuid

    from relstream.core.kafka_io import EventProducer
    from relstream.core.topics import SEARCH_LOG

    searches = load_searches(world / "search_log.jsonl", limit=limit)
    grades = load_grades(world / "labels.jsonl")
    token = getattr(settings, "admin_token", "")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    producer = EventProducer(settings, client_id="ab-simulate")

    def to_kafka(query: str, events: list[FeedbackEvent]) -> None:
        for event in events:
            producer.send(SEARCH_LOG, event, key=normalize_query(query))

    with httpx.Client(base_url=url.rstrip("/"), timeout=60, headers=headers) as http:
        before = _feedback_written(http) if token else None
        try:
            # A fresh prefix per run: request ids stay unique when a world is replayed again.
            stats = drive(http, searches, grades, to_kafka, seed=seed,
                          request_prefix=f"sim-{uuid.uuid4().hex[:8]}-")
        finally:
            producer.close()  # flushes: the feedback sent so far is delivered either way
        if before is not None:
            deadline = time.monotonic() + wait_s
            while (_feedback_written(http) or 0) < before + stats.feedback:
                if time.monotonic() > deadline:
                    raise ServingError(
                        f"the server wrote fewer than the {stats.feedback} feedback events "
                        f"within {wait_s:.0f} s: is it running with --follow?")
                time.sleep(1.0)
    return stats


def _feedback_written(http: httpx.Client) -> int | None:
    resp = http.get("/admin/models")
    if resp.status_code != 200:
        raise ServingError(f"GET /admin/models answered {resp.status_code}: {resp.text[:200]}")
    writer = resp.json().get("writer")
    return int(writer["feedback_written"]) if writer else None
