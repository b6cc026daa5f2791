"""Bounded concurrency: model runs never exceed the slots, past the queue limit a 503 with
Retry-After comes at once, and the limit frees up when requests finish."""

from __future__ import annotations

import threading
import time

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.limiter import Overloaded, RunLimiter, default_slots
from serving.settings import ServingSettings

BODY = {"query": "stride runner black", "item_ids": ["sku-1001", "sku-2001"]}


def test_slots_follow_the_cores_and_threads() -> None:
    assert default_slots(1, cores=2) == 2
    assert default_slots(2, cores=2) == 1
    assert default_slots(4, cores=2) == 1  # never zero slots


def test_admission_is_bounded_and_refusal_does_not_block() -> None:
    limiter = RunLimiter(slots=1, max_queued=1)
    with limiter.admit(), limiter.admit():
        assert limiter.in_flight == 2 and limiter.queued == 2
        start = time.perf_counter()
        with pytest.raises(Overloaded, match="2 requests in flight") as refused:
            with limiter.admit():
                pass
        assert time.perf_counter() - start < 0.1
        assert refused.value.retry_after_s >= 1
    assert limiter.in_flight == 0 and limiter.rejected == 1 and limiter.admitted == 2
    with limiter.admit():  # room again once requests finished
        pass


def test_no_more_runs_at_once_than_slots() -> None:
    limiter = RunLimiter(slots=2, max_queued=10)
    peak, lock = [0], threading.Lock()

    def run() -> None:
        with limiter.admit(), limiter.slot():
            with lock:
                peak[0] = max(peak[0], limiter.running)
            time.sleep(0.02)

    threads = [threading.Thread(target=run) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2
    assert limiter.snapshot()["in_flight"] == 0 and limiter.running == 0


def test_retry_after_grows_with_the_queue_and_run_time() -> None:
    limiter = RunLimiter(slots=1, max_queued=100)
    with limiter.slot():
        time.sleep(0.3)
    with limiter.admit(), limiter.admit(), limiter.admit(), limiter.admit():
        assert limiter.retry_after_s() >= 2  # 4 ahead × ~0.3 s on one slot


def test_api_answers_503_with_retry_after_past_the_limit(
    settings: ServingSettings, catalog: MemoryItemLookup
) -> None:
    busy = settings.model_copy(update={"max_concurrent_runs": 1, "max_queued_requests": 0})
    with TestClient(create_app(busy, items=catalog)) as client:
        state = client.app.state.serving  # type: ignore[attr-defined]
        assert client.post("/v1/score", json=BODY).status_code == 200
        with state.limiter.admit():  # one request in flight fills slots + queue
            resp = client.post("/v1/score", json=BODY)
            assert resp.status_code == 503
            assert int(resp.headers["Retry-After"]) >= 1
            assert "in flight" in resp.json()["detail"]
            assert "relstream_serving_overloaded_total 1.0" in client.get("/metrics").text
        assert client.post("/v1/score", json=BODY).status_code == 200
        limiter = client.get("/admin/models", headers={"Authorization": "Bearer s3cret"}
                             ).json()["limiter"]
        assert limiter["slots"] == 1 and limiter["rejected"] == 1 and limiter["in_flight"] == 0
