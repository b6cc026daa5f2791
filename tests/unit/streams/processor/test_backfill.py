"""Backfill: the label budget in event time, and replays that ask the teacher nothing new."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from relstream.core.schemas import CatalogEvent, CatalogItem, format_ts
from streams.processor.aggregates import CtrPrior
from streams.processor.policy import (
    Candidate,
    EventTimeWindows,
    LabelRequestPolicy,
    PolicyParams,
)
from streams.processor.state import StreamState, Tables
from tests.conftest import ManualClock

T0 = datetime(2026, 3, 1, tzinfo=UTC)
T0_MS = int(T0.timestamp() * 1000)



def test_event_windows_admit_burst_per_window_in_any_order() -> None:
    windows = EventTimeWindows(rate_per_s=1.0, capacity=3.0)  # 3 per 3 s of event time
    assert windows.window_ms == 3000
    assert [windows.try_take(1.0, T0_MS + 5_000) for _ in range(4)] == [True] * 3 + [False]
    # An earlier window, processed later, still has its own 3.
    assert [windows.try_take(1.0, T0_MS + 1_000) for _ in range(4)] == [True] * 3 + [False]
    assert windows.level(T0_MS + 2_999) == 0.0 and windows.level(T0_MS + 3_000) == 0.0
    assert windows.level(T0_MS + 6_000) == 3.0
    assert not windows.try_take(3.5, T0_MS + 6_000)  # a low priority needs more left


def test_event_windows_forget_the_oldest() -> None:
    windows = EventTimeWindows(rate_per_s=1.0, capacity=1.0, keep=10)
    for k in range(25):
        assert windows.try_take(1.0, T0_MS + k * 1000)
    assert len(windows.used) <= 10


def test_event_budget_counts_event_seconds_not_wall_seconds() -> None:
    wall = ManualClock()
    params = PolicyParams(budget_per_minute=60, burst=3, reserve=0.0, clock="event")
    policy = LabelRequestPolicy(params, clock=wall)
    # 3 per window of 3 event seconds; no wall time passes at all.
    assert [policy.decide(Candidate(1, 0), T0_MS).admitted for _ in range(4)] == [
        True, True, True, False]
    assert [policy.decide(Candidate(1, 0), T0_MS + 3_000).admitted for _ in range(4)] == [
        True, True, True, False]
    assert not policy.decide(Candidate(1, 0), T0_MS + 1_000).admitted  # its window is used


def test_wall_budget_ignores_event_time() -> None:
    wall = ManualClock()
    policy = LabelRequestPolicy(PolicyParams(budget_per_minute=60, burst=3, reserve=0.0),
                                clock=wall)
    admitted = [policy.decide(Candidate(1, 0), T0_MS + k * 60_000).admitted for k in range(10)]
    assert admitted == [True] * 3 + [False] * 7  # a day of events, no wall time: 3 tokens


def test_event_budget_over_a_replayed_span() -> None:
    """Three days of candidates, 4 per event minute, replayed at once: the event-time
    budget (2/min) admits what live traffic would have got, and never more."""
    wall = ManualClock()
    params = PolicyParams(budget_per_minute=2, burst=5, reserve=0.0, clock="event")
    policy = LabelRequestPolicy(params, clock=wall)
    minutes = 3 * 24 * 60
    admitted = sum(policy.decide(Candidate(1, 0), T0_MS + k * 15_000).admitted
                   for k in range(4 * minutes))
    assert 2 * minutes - 5 <= admitted <= 2 * minutes + params.capacity


def test_event_budget_does_not_punish_partitions_processed_behind() -> None:
    """Two partitions a day apart in event time, their candidates interleaved as a replay
    processes them: each gets what its own event time allows. (A bucket refilled by the
    latest event time seen refused the lagging one all but its burst.)"""
    day = 86_400_000
    params = PolicyParams(budget_per_minute=120, burst=4, reserve=0.0, clock="event")
    policy = LabelRequestPolicy(params, clock=ManualClock())
    ahead, behind = [], []
    for k in range(60):  # one candidate a second on each: half the budget (2/s) each
        ahead.append(policy.decide(Candidate(1, 0), T0_MS + day + k * 1000).admitted)
        behind.append(policy.decide(Candidate(1, 0), T0_MS + k * 1000).admitted)
    assert all(ahead) and all(behind)


def test_event_budget_needs_event_times() -> None:
    policy = LabelRequestPolicy(PolicyParams(clock="event"))
    with pytest.raises(ValueError, match="event time"):
        policy.decide(Candidate(1, 0))
    with pytest.raises(ValueError, match="clock"):
        PolicyParams(clock="cpu")  # type: ignore[arg-type]


# --- through StreamState: a history replayed twice ---------------------------------------


def _history(n_searches: int = 300, n_items: int = 40, n_queries: int = 25
             ) -> list[tuple[bytes, bytes]]:
    """(key, raw) search events over three days, 5 items each, some pairs shown often."""
    out = []
    for n in range(n_searches):
        ts = T0 + timedelta(seconds=n * 3 * 86400 / n_searches)
        query = f"query {n % n_queries}"
        items = [f"sku-{(n * 7 + k * 3) % n_items}" for k in range(5)]
        raw = json.dumps({"type": "search", "event_id": f"s{n}", "ts": format_ts(ts),
                          "request_id": f"r{n}", "user_id": "u", "query": query,
                          "results": [{"item_id": i, "position": p + 1}
                                      for p, i in enumerate(items)]}).encode()
        out.append((query.encode(), raw))
    return out


def _state(params: PolicyParams, wall: ManualClock) -> StreamState:
    state = StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(params, clock=wall),
                        CtrPrior(0.05, 20))
    for k in range(40):
        event = CatalogEvent(ts=T0, item=CatalogItem(item_id=f"sku-{k}", title=f"t {k}",
                                                     category="c"))
        assert not state.on_catalog(event.to_bytes(), "cat").dead
    return state


def _replay(state: StreamState, history: list[tuple[bytes, bytes]]) -> list[tuple[str, str]]:
    pairs = []
    for key, raw in history:
        for _, delta in state.on_search_log(key, raw, "here").deltas:
            pairs += [(r.query, r.item_id) for r in state.on_item_delta(delta).requests]
    return pairs


def _shown_pairs(history: list[tuple[bytes, bytes]]) -> set[tuple[str, str]]:
    shown = set()
    for _, raw in history:
        event = json.loads(raw)
        shown |= {(event["query"], r["item_id"]) for r in event["results"]}
    return shown


def test_backfill_requests_most_shown_pairs_where_wall_budget_starves() -> None:
    history = _history()
    shown = _shown_pairs(history)
    params = {"budget_per_minute": 2.0, "burst": 4.0, "dedup_window_s": 86400.0}
    wall_requests = _replay(_state(PolicyParams(**params), ManualClock()), history)
    event_requests = _replay(_state(PolicyParams(**params, clock="event"), ManualClock()),
                             history)
    assert len(wall_requests) <= 4  # the burst, then nothing: no wall time passed
    assert len(set(event_requests)) >= 0.5 * len(shown), (len(event_requests), len(shown))


@pytest.mark.parametrize("clock", ["wall", "event"])
def test_second_replay_makes_no_new_requests(clock: str) -> None:
    """The first pass leaves pairs turned away by the budget; before the fix the second
    pass offered every (duplicate) showing again and the refilled bucket let them in."""
    history = _history()
    wall = ManualClock()
    # Tight budget so the first pass turns pairs away in both clocks.
    state = _state(PolicyParams(budget_per_minute=0.05, burst=3.0, reserve=0.0,
                                clock=clock), wall)  # type: ignore[arg-type]
    first = _replay(state, history)
    assert first and state.stats["requests_over_budget"] > 0
    wall.now += 10 * 86400.0  # the wall bucket is full again by the second replay
    second = _replay(state, history)
    assert second == []
    # Counted once, so the counts stay exact: a showing still within the kept hours meets
    # its id (a duplicate, never offered again), an older one is behind them (expired, no
    # deltas at all).
    assert state.stats["expired"] > 0
    assert state.stats["duplicates"] + state.stats["expired"] == len(history)
    assert state.stats["requests_skipped_duplicate"] == 5 * state.stats["duplicates"]
    assert state.stats["expired_listings"] == 5 * state.stats["expired"]
