"""Bounded state and windows as of the processor's clock, on StreamState with dict tables:
72 hours of traffic keep the tables within the kept hours, an idle query's 1 h count falls
to 0 in the rows pushed, partitions processed days apart lose nothing."""

from __future__ import annotations

import json
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from relstream.core.schemas import CatalogEvent, CatalogItem, format_ts
from streams.processor import aggregates as agg
from streams.processor.clock import StreamClock, key_partition
from streams.processor.expiry import HourIndex, Retention
from streams.processor.policy import LabelRequestPolicy, PolicyParams
from streams.processor.state import StreamState, Tables

T0 = datetime(2026, 3, 1, tzinfo=UTC)
H = agg.HOUR_MS


class FakeWall:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _state(clock: str = "event", wall: FakeWall | None = None, slack: int = 2,
           budget: float = 1e9) -> StreamState:
    params = PolicyParams(budget_per_minute=budget, clock=clock)  # type: ignore[arg-type]
    stream_clock = StreamClock(params.clock, wall=wall) if wall else None
    state = StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(params),
                        agg.CtrPrior(0.05, 20), clock=stream_clock, slack_hours=slack)
    return state


def _catalog(state: StreamState, ids: list[str]) -> None:
    for item_id in ids:
        event = CatalogEvent(ts=T0, item=CatalogItem(item_id=item_id, title=item_id,
                                                     category="c"))
        assert not state.on_catalog(event.to_bytes(), "cat").dead


def _search(eid: str, query: str, items: list[str], ts: datetime) -> bytes:
    return json.dumps({"type": "search", "event_id": eid, "ts": format_ts(ts),
                       "request_id": "r" + eid, "user_id": "u", "query": query,
                       "results": [{"item_id": i, "position": k + 1}
                                   for k, i in enumerate(items)]}).encode()


def _feed(state: StreamState, query: str, raw: bytes) -> list[Any]:
    """Search log → item deltas, as the app wires them; returns the label requests."""
    requests = []
    for _, delta in state.on_search_log(query.encode(), raw, "here").deltas:
        requests += state.on_item_delta(delta).requests
    return requests


def _rows_by_key(rows: dict[str, list[dict[str, Any]]]) -> dict[tuple[str, Any], dict]:
    out = {}
    for r in rows["query_stats"]:
        out[("query", r["query"])] = r
    for r in rows["item_stats"]:
        out[("item", r["item_id"])] = r
    for r in rows["pair_stats"]:
        out[("pair", (r["query"], r["item_id"]))] = r
    return out


def test_72_hours_of_traffic_keep_state_bounded_and_counts_exact() -> None:
    rng = random.Random(3)
    queries = [f"query {k}" for k in range(40)]
    items = [f"sku-{k}" for k in range(60)]
    slack = 2
    state = _state(slack=slack)
    _catalog(state, items)
    pushed: dict[tuple[str, Any], dict] = {}
    events: list[tuple[int, str, list[str]]] = []
    peak: Counter[str] = Counter()
    minute = 0
    for hour in range(72):
        for _ in range(60):  # one search a minute
            minute += 1
            ts = T0 + timedelta(minutes=minute)
            query, shown = rng.choice(queries), rng.sample(items, 5)
            events.append((int(ts.timestamp() * 1000), query, shown))
            _feed(state, query, _search(f"s{minute}", query, shown, ts))
        pushed.update(_rows_by_key(state.collect_rows()))
        size = state.state_size()
        for name in ("query_hours", "item_hours", "requested"):
            peak[name] = max(peak[name], size[name])
        if hour > 30:
            # Every entity within the kept hours: one bucket per hour, plus the hour the
            # clock is in before the next sweep.
            keep = 24 + slack + 1
            assert size["query_hours"] <= len(queries) * keep, (hour, size)
            assert size["item_hours"] <= len(items) * keep, (hour, size)
            assert size["indexed_hours"] == size["query_hours"] + size["item_hours"]
            # A pair requested again is indexed under both hours until the older passes.
            assert size["requested"] <= size["indexed_requested"] <= 2 * size["requested"]
    # Without expiry the tables would hold every active (entity, hour) of 72 hours.
    active_query_hours = len({(q, t // H) for t, q, _ in events})
    assert peak["query_hours"] < 0.45 * active_query_hours
    assert state.stats["query_buckets_expired"] > 0 and state.stats["item_buckets_expired"] > 0
    assert state.stats["requested_expired"] > 0
    # Requested pairs: at most those of the kept hours plus the dedup window.
    assert peak["requested"] <= len(queries) * len(items)
    # The rows pushed last equal counts computed from the events, as of the clock.
    now_hour = events[-1][0] // H
    want: dict[tuple[str, Any], Counter[str]] = {}
    for t, query, shown in events:
        for window, width in agg.WINDOW_HOURS.items():
            if now_hour - width < t // H <= now_hour:
                want.setdefault(("query", query), Counter()).update(
                    {f"searches_{window}": 1, f"impressions_{window}": len(shown)})
                for item_id in shown:
                    want.setdefault(("item", item_id), Counter())[f"impressions_{window}"] += 1
                    want.setdefault(("pair", (query, item_id)), Counter())[
                        f"impressions_{window}"] += 1
    for key, row in pushed.items():
        for field in ("impressions_1h", "impressions_24h", "searches_1h", "searches_24h"):
            if field in row:
                assert row[field] == want.get(key, Counter())[field], (key, field)
    assert {k for k in want if want[k]["impressions_24h"]} <= set(pushed)


def test_idle_query_reads_zero_once_the_clock_passes_its_window() -> None:
    state = _state()
    _catalog(state, ["a", "b"])
    # "busy" shares the partition of "idle": a query's buckets are dropped as its own
    # partition's clock moves on.
    busy = next(q for q in (f"busy {k}" for k in range(100))
                if key_partition(q) == key_partition("idle"))
    _feed(state, "idle", _search("s0", "idle", ["a"], T0 + timedelta(minutes=10)))
    first = _rows_by_key(state.collect_rows())
    assert first[("query", "idle")]["searches_1h"] == 1
    # Other traffic moves the clock on; "idle" sees nothing new.
    _feed(state, busy, _search("s1", busy, ["b"], T0 + timedelta(minutes=90)))
    later = _rows_by_key(state.collect_rows())
    idle = later[("query", "idle")]  # pushed again although no event touched it
    assert (idle["searches_1h"], idle["searches_24h"]) == (0, 1)
    assert later[("pair", ("idle", "a"))]["impressions_1h"] == 0
    assert later[("item", "a")]["impressions_1h"] == 0
    assert later[("query", busy)]["searches_1h"] == 1
    assert idle["event_timestamp"] > first[("query", "idle")]["event_timestamp"]
    # A day later its 24 h count is 0 as well; then its bucket is dropped for good.
    _feed(state, busy, _search("s2", busy, ["b"], T0 + timedelta(hours=25)))
    day = _rows_by_key(state.collect_rows())
    assert day[("query", "idle")]["searches_24h"] == 0
    assert day[("item", "a")]["impressions_24h"] == 0
    _feed(state, busy, _search("s3", busy, ["b"], T0 + timedelta(hours=40)))
    assert not any(k.startswith("idle") for k in state.t.query_hours)
    assert ("query", "idle") not in _rows_by_key(state.collect_rows())


def test_wall_clock_moves_the_windows_without_any_event() -> None:
    wall = FakeWall()
    state = _state("wall", wall)
    _feed(state, "idle", _search("s0", "idle", ["a"], T0 + timedelta(minutes=10)))
    assert _rows_by_key(state.collect_rows())[("query", "idle")]["searches_1h"] == 1
    assert state.collect_rows()["query_stats"] == []  # nothing changed
    wall.now += 3600.0  # an hour with no traffic at all
    idle = _rows_by_key(state.collect_rows())[("query", "idle")]
    assert (idle["searches_1h"], idle["searches_24h"]) == (0, 1)


def test_an_event_behind_the_kept_hours_is_not_counted() -> None:
    state = _state(slack=0)
    _feed(state, "q", _search("s1", "q", ["a"], T0 + timedelta(hours=30)))
    old = _search("s0", "q", ["a"], T0)
    assert state.on_search_log(b"q", old, "here").deltas == []
    assert state.stats["expired"] == 1 and state.stats["query_counted"] == 1


def _partition_queries(partition: int, n: int) -> list[str]:
    out, k = [], 0
    while len(out) < n:
        query = f"q{k}"
        if key_partition(query) == partition:
            out.append(query)
        k += 1
    return out


def test_partitions_processed_days_apart_lose_nothing() -> None:
    """A backfill may hand over one partition's three days before the next partition's
    first event: item buckets follow the slowest partition, so nothing is dropped."""
    state = _state()
    _catalog(state, ["a", "b"])
    offered = 0
    for partition in range(4):
        for hour in range(0, 72, 6):  # in time order within a partition, as Kafka keeps it
            for k, query in enumerate(_partition_queries(partition, 3)):
                ts = T0 + timedelta(hours=hour, minutes=k)
                raw = _search(f"s{partition}-{k}-{hour}", query, ["a", "b"], ts)
                _feed(state, query, raw)
                offered += 2
    assert state.stats["expired"] == 0 and state.stats["expired_deltas"] == 0
    assert state.stats["item_counted"] == offered
    # Each partition dropped its own queries' old buckets meanwhile.
    assert state.stats["query_buckets_expired"] > 0


def test_item_expiry_waits_for_every_source_up_to_the_skew_limit() -> None:
    clock = StreamClock("event", partitions=2, max_skew_hours=48)
    clock.observe(0, 100 * H)  # the query side may run far ahead of the item side
    assert clock.delta_reference_ms(0) is None
    clock.observe_delta(0, 0, 100 * H)
    assert clock.delta_reference_ms(0) == 52 * H  # source 1 unheard of: the skew limit
    clock.observe_delta(0, 1, 60 * H)
    assert clock.delta_reference_ms(0) == 60 * H
    clock.observe_delta(1, 1, 99 * H)  # another delta partition runs on its own
    assert clock.delta_reference_ms(0) == 60 * H and clock.delta_reference_ms(1) == 51 * H
    assert clock.reference_ms(0) == 100 * H and clock.now_ms() == 100 * H


def test_query_side_ahead_of_item_side_loses_nothing() -> None:
    """All of the search log is handled before the first item delta (as a backfill's
    query agent can run ahead of the item agent), and the delta partitions one after the
    other: no delta is behind the kept hours."""
    state = _state()
    items = [f"sku-{k}" for k in range(8)]
    assert len({key_partition(i) for i in items}) > 1
    _catalog(state, items)
    deltas = []
    for hour in range(0, 72, 3):
        for k in range(8):
            query = f"q{k}"
            raw = _search(f"s{hour}-{k}", query, items, T0 + timedelta(hours=hour))
            deltas += [d for _, d in state.on_search_log(query.encode(), raw, "x").deltas]
    for delta in sorted(deltas, key=lambda d: key_partition(d["i"])):
        state.on_item_delta(delta)
    assert state.stats["expired_deltas"] == 0
    assert state.stats["item_counted"] == len(deltas) and state.stats["item_buckets_expired"]


def test_retention_horizons() -> None:
    retention = Retention(window_hours=24, slack_hours=2, dedup_window_ms=24 * H)
    assert retention.horizon_hour(None) is None
    assert retention.horizon_hour(100 * H + 5) == 75  # hours 75..100 kept: 26
    assert retention.requested_horizon_ms(75) == 51 * H
    index = HourIndex()
    index.add(70, "x", 0)
    index.add(70, "y", 1)
    index.add(80, "z", 0)
    assert index.take_below(75, 0) == [(70, "x")]
    assert index.hours == {70: {"y": 1}, 80: {"z": 0}} and len(index) == 2
