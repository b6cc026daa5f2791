"""StreamState on plain dict tables: counting, dedup, dead letters, label requests, rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from relstream.core.schemas import CatalogEvent, CatalogItem
from streams.processor.aggregates import CtrPrior
from streams.processor.policy import LabelRequestPolicy, PolicyParams
from streams.processor.state import StreamState, Tables

T0 = "2026-03-01T12:00:00.000Z"


def _state(**params: float) -> StreamState:
    return StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(PolicyParams(**params)),
                       CtrPrior(0.05, 20))


def _search(eid: str, query: str, items: list[str], ts: str = T0) -> bytes:
    return json.dumps({"type": "search", "event_id": eid, "ts": ts, "request_id": "r" + eid,
                       "user_id": "u", "query": query,
                       "results": [{"item_id": i, "position": k + 1}
                                   for k, i in enumerate(items)]}).encode()


def _feedback(eid: str, req: str, item: str, action: str = "click", ts: str = T0) -> bytes:
    return json.dumps({"type": "feedback", "event_id": eid, "ts": ts, "request_id": req,
                       "user_id": "u", "item_id": item, "action": action}).encode()


def _run(state: StreamState, key: bytes | None, raw: bytes) -> list:
    out = state.on_search_log(key, raw, "here")
    requests = []
    for _, delta in out.deltas:
        requests += state.on_item_delta(delta).requests
    return requests


def _catalog(state: StreamState, *ids: str) -> None:
    for item_id in ids:
        event = CatalogEvent(ts=datetime(2026, 3, 1, tzinfo=UTC),
                             item=CatalogItem(item_id=item_id, title=f"t {item_id}",
                                              category="c"))
        assert not state.on_catalog(event.to_bytes(), "cat").dead


def test_counts_dedup_and_rows() -> None:
    state = _state()
    _catalog(state, "a", "b")
    key = b"shoes"
    _run(state, key, _search("s1", "Shoes", ["a", "b"]))
    _run(state, key, _search("s1", "Shoes", ["a", "b"]))  # redelivered
    _run(state, key, _feedback("f1", "rs1", "a", "purchase", "2026-03-01T12:30:00.000Z"))
    _run(state, key, _feedback("f1", "rs1", "a", "purchase", "2026-03-01T12:30:00.000Z"))
    assert state.stats["duplicates"] == 2
    rows = state.collect_rows()
    (q,) = rows["query_stats"]
    assert (q["query"], q["searches_1h"], q["impressions_24h"], q["purchases_1h"]) == (
        "shoes", 1, 2, 1)
    pairs = {(r["query"], r["item_id"]): r for r in rows["pair_stats"]}
    assert pairs[("shoes", "a")]["impressions_1h"] == 1
    assert pairs[("shoes", "a")]["purchases_24h"] == 1
    items = {r["item_id"]: r for r in rows["item_stats"]}
    assert items["a"]["impressions_24h"] == 1 and items["a"]["purchases_24h"] == 1
    assert items["b"]["purchases_24h"] == 0
    assert {r["item_id"] for r in rows["item_content"]} == {"a", "b"}
    assert state.collect_rows()["pair_stats"] == []  # dirty marks cleared
    # A redelivery changes no count, so it makes no Feast row either.
    _run(state, key, _search("s1", "Shoes", ["a", "b"]))
    _run(state, key, _feedback("f1", "rs1", "a", "purchase", "2026-03-01T12:30:00.000Z"))
    assert state.dirty_count == 0
    assert all(rows == [] for rows in state.collect_rows().values())


def test_rebuild_marks_everything_from_the_tables() -> None:
    state = _state()
    _catalog(state, "a")
    _run(state, b"q", _search("s1", "q", ["a"]))
    state.collect_rows()
    fresh = StreamState(state.t, state.policy, state.prior)
    fresh.rebuild()
    rows = fresh.collect_rows()
    assert rows["query_stats"][0]["searches_24h"] == 1
    assert rows["pair_stats"][0]["impressions_1h"] == 1
    assert rows["item_stats"][0]["impressions_1h"] == 1
    assert rows["item_content"][0]["title"] == "t a"


def test_orphan_feedback_counts_for_the_item_only() -> None:
    state = _state()
    _run(state, b"r-missing", _feedback("f9", "r-missing", "z"))
    rows = state.collect_rows()
    assert rows["query_stats"] == [] and rows["pair_stats"] == []
    assert rows["item_stats"][0]["clicks_1h"] == 1
    assert state.stats["orphan_feedback"] == 1


def test_bad_messages_are_dead_lettered() -> None:
    state = _state()
    out = state.on_search_log(b"k", b"{nope", "t/0/5")
    assert out.dead[0].location == "t/0/5" and "JSON" in out.dead[0].reason
    cat = CatalogEvent(ts=datetime(2026, 3, 1, tzinfo=UTC),
                       item=CatalogItem(item_id="a", title="t", category="c"))
    out = state.on_search_log(b"k", cat.to_bytes(), "t/0/6")
    assert "unexpected event type" in out.dead[0].reason
    assert state.on_catalog(_search("s", "q", ["a"]), "c/0/1").dead


def test_label_requests_once_per_pair_with_item_snapshot() -> None:
    state = _state(budget_per_minute=10_000)
    _catalog(state, "a", "b")
    first = _run(state, b"q", _search("s1", "q", ["a", "b", "c"]))
    again = _run(state, b"q", _search("s2", "q", ["a", "b"], "2026-03-01T12:05:00.000Z"))
    assert sorted(r.item_id for r in first) == ["a", "b"]  # c has no catalog entry yet
    assert again == []
    assert all(r.item is not None and r.item.item_id == r.item_id for r in first)
    assert first[0].reasons == ["long_tail", "new_item", "new_query"]
    assert state.stats["requests_no_catalog"] == 1 and state.stats["requests_deduped"] == 2
    _catalog(state, "c")
    later = _run(state, b"q", _search("s3", "q", ["c"], "2026-03-01T12:06:00.000Z"))
    assert [r.item_id for r in later] == ["c"]


def test_a_query_is_new_for_its_first_hours_in_the_window() -> None:
    """The delta carries the hours since the query's first search in 24 h; its pairs get
    the "new_query" reason (and priority 1) while that is under `new_query_hours`."""
    state = _state(budget_per_minute=10_000, new_query_hours=6, tail_searches=1,
                   new_item_impressions=1)
    _catalog(state, "a", "b", "c", "d")
    ages = []
    for n, (hour, item) in enumerate([(12, "a"), (12, "b"), (17, "c"), (18, "d")]):
        raw = _search(f"s{n}", "q", [item], f"2026-03-01T{hour}:00:00.000Z")
        out = state.on_search_log(b"q", raw, "here")
        ages.append(out.deltas[0][1]["a"])
        (request,) = state.on_item_delta(out.deltas[0][1]).requests
        assert ("new_query" in request.reasons) == (hour - 12 < 6)
    assert ages == [0, 0, 5, 6]
    assert state.stats["requests_new_query"] == 3 == state.stats["candidates_new_query"]
    # A delta sent before the signal existed (no "a") is judged without it.
    out = state.on_search_log(b"q2", _search("s9", "q2", ["a"]), "here")
    assert out.deltas[0][1]["a"] == 0
    old_format = {k: v for k, v in out.deltas[0][1].items() if k != "a"}
    (request,) = state.on_item_delta(old_format).requests
    assert request.reasons == ["long_tail"]


def test_cached_24h_impressions_equal_a_fresh_window_sum() -> None:
    """The label policy's "impressions before this showing" comes from a per-item cache;
    over shuffled, late, duplicated and expiring deltas it equals the 24-bucket sum."""
    import random

    from relstream.core.topics import PARTITIONS
    from streams.processor import aggregates as agg

    rng = random.Random(5)
    state = _state(clock="event")
    hour_ms = agg.HOUR_MS
    start = 1_000 * hour_ms
    events = []
    for n in range(3000):
        # mostly forward in time, some late by up to 30 h, a day-and-a-half gap midway
        ts = start + n * hour_ms // 40 + (60 * hour_ms if n > 1500 else 0)
        if rng.random() < 0.2:
            ts -= rng.randrange(30 * hour_ms)
        events.append((f"e{n}", f"i{rng.randrange(12)}", ts, [rng.randrange(1, 3), 0, 0, 0]))
    events += rng.sample(events, 300)  # redeliveries
    checked = 0
    for n, (event_id, item, ts, vec) in enumerate(events):
        hour = agg.hour_of(ts)
        fresh = sum(state._item_impressions(item, h) for h in range(hour - 23, hour + 1))
        assert state._item_impressions_24h(item, hour) == fresh
        checked += 1
        state.on_item_delta({"e": event_id, "i": item, "t": ts, "c": vec, "q": None,
                             "s": 0, "f": 0, "p": n % PARTITIONS}, 0)
    assert checked == 3300 and state.stats["item_buckets_expired"] > 0
