"""Windows as of the processor's clock and state bounded to them, on the real broker and
Feast: a query searched once and then idle reads 0 in its 1 h window an hour later (and
in its 24 h window a day later), buckets behind the kept hours leave the tables and their
changelogs, and a worker SIGKILLed afterwards comes back with the bounded state, not the
expired buckets."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from relstream.core.schemas import format_ts
from relstream.core.settings import CommonSettings
from streams.processor.clock import key_partition
from tests.integration.test_stream_processor import (
    EXACT_COUNT_ENV,
    counts_exact,
    expected_counts,
    mismatches,
    start_on_catalog,
    start_worker,
    stats,
    stop,
    wait_for,
)

pytestmark = pytest.mark.integration

T0 = datetime(2026, 3, 1, tzinfo=UTC)
ITEMS = [f"sku-{k}" for k in range(12)]
SLACK = 2


def _busy_queries() -> list[str]:
    """Two queries on each of the four search-log partitions."""
    out: list[str] = []
    k = 0
    while len(out) < 8:
        query = f"busy {k}"
        if sum(key_partition(q) == key_partition(query) for q in out) < 2:
            out.append(query)
        k += 1
    return out


def _search(eid: str, query: str, items: list[str], ts: datetime) -> dict[str, Any]:
    return {"type": "search", "event_id": eid, "ts": format_ts(ts), "request_id": "r" + eid,
            "user_id": "u", "query": query,
            "results": [{"item_id": i, "position": p + 1} for p, i in enumerate(items)]}


def _write(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _traffic(first_hour: int, last_hour: int) -> list[dict[str, Any]]:
    """Every busy query once an hour, each showing 4 of the 12 items."""
    lines = []
    for hour in range(first_hour, last_hour + 1):
        for k, query in enumerate(_busy_queries()):
            shown = [ITEMS[(hour + k + j) % len(ITEMS)] for j in range(4)]
            ts = T0 + timedelta(hours=hour, minutes=20 + k)
            lines.append(_search(f"b{hour}-{k}", query, shown, ts))
    return lines


def _idle_row(settings: CommonSettings) -> dict[str, Any]:
    from feature_store.client import get_online
    from feature_store.config import FeatureStoreSettings, open_store

    store = open_store(FeatureStoreSettings(**settings.model_dump()))
    return get_online(store, query="idle query")


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faust", "batch"])
def test_idle_window_and_bounded_state_across_sigkill(
        stack_settings: CommonSettings, subprocess_env: Any, tmp_path: Path,
        engine: str) -> None:
    from streams.replay import replay_files

    catalog = _write(tmp_path / "catalog.jsonl", [
        {"item_id": i, "title": f"Thing {i}", "category": "A > B"} for i in ITEMS])
    idle = _search("idle-1", "idle query", ITEMS[:3], T0 + timedelta(minutes=10))
    first = [idle, *_traffic(0, 1)]  # the clock ends at 01:27
    everything = [*first, *_traffic(2, 40)]
    env = subprocess_env(**EXACT_COUNT_ENV, RELSTREAM_STATE_SLACK_HOURS=str(SLACK),
                         RELSTREAM_STREAMS_ENGINE=engine)
    worker_log = tmp_path / "worker.log"
    proc = start_on_catalog(stack_settings, env, worker_log, catalog)
    try:
        # An hour after its only search, the idle query's 1 h count is 0 in Feast.
        replay_files(stack_settings, None, _write(tmp_path / "first.jsonl", first))
        assert wait_for(counts_exact(stack_settings, expected_counts(tmp_path / "first.jsonl")),
                        120, "exact counts after the first stretch", proc) is True
        row = _idle_row(stack_settings)
        assert (row["query_stats__searches_1h"], row["query_stats__searches_24h"]) == (0, 1)

        # 40 hours on: its 24 h count is 0 too, and the old buckets are gone.
        rest = _write(tmp_path / "rest.jsonl", everything[len(first):])
        replay_files(stack_settings, None, rest)
        whole = _write(tmp_path / "whole.jsonl", everything)
        assert wait_for(counts_exact(stack_settings, expected_counts(whole)), 180,
                        "exact counts after 40 hours", proc) is True
        assert _idle_row(stack_settings)["query_stats__searches_24h"] == 0

        # The status file is written at each push: Feast can be exact (expired buckets
        # are outside every window anyway) a push before the counters show the sweep.
        def swept() -> bool:
            counters = stats(stack_settings)["stats"]
            return (counters.get("query_buckets_expired", 0) > 0
                    and counters.get("item_buckets_expired", 0) > 0)

        wait_for(swept, 30, "expired query and item buckets in the status file", proc)
        worker = stats(stack_settings)
        size = worker["state"]
        keep = 24 + SLACK + 1
        assert size["query_hours"] <= len(_busy_queries()) * keep, size
        assert size["item_hours"] <= len(ITEMS) * keep, size
        assert size["query_hours"] < 41 * len(_busy_queries()), size

        # The deletes reached the changelogs: a restarted worker rebuilds the same
        # bounded tables (a lost tombstone would bring an expired bucket back).
        time.sleep(6.0)  # past Faust's commit interval: every changelog write is in
        if engine == "batch":  # a round of snapshots taken after the last count
            taken = stats(stack_settings)["stats"].get("snapshots", 0)
            wait_for(lambda: stats(stack_settings)["stats"].get("snapshots", 0) >= taken + 4, 90,
                     "a snapshot of every partition", proc)
        before = stats(stack_settings)["state"]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        started = worker["started"]
        proc = start_worker(env, worker_log)
        # The Faust worker rebuilds its indexes from restored tables; the batch engine
        # restores every partition's snapshot (the status file is written meanwhile).
        rebuilt, done = ("rebuilds", 1) if engine == "faust" else ("partitions_restored", 4)
        wait_for(lambda: stats(stack_settings).get("started", started) != started
                 and stats(stack_settings)["stats"].get(rebuilt, 0) >= done, 180,
                 "the restarted worker to rebuild its tables", proc)
        restarted = stats(stack_settings)
        after = restarted["state"]
        for table in ("query_hours", "item_hours", "requested"):
            assert after[table] == before[table], (before, after)
        if engine == "batch":  # restored, not counted again from the log's start
            assert restarted["stats"].get("query_counted", 0) == 0, restarted["stats"]
        assert mismatches(stack_settings, expected_counts(whole)) == []
    finally:
        stop(proc)
        print(worker_log.read_text()[-3000:])
