"""The batch engine's state (`streams.batch.state`) against the per-message one: the same
Feast rows from the same records; snapshots that restore exactly; duplicates caught by the
seen ids and the item watermarks; snapshot chunks that survive a torn write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import from_json, to_json

from relstream.tools.synthetic_log import write_synthetic_log
from streams.batch import snapshots
from streams.batch.state import BatchState
from streams.processor.aggregates import CtrPrior
from streams.processor.clock import StreamClock, key_partition
from streams.processor.policy import LabelRequestPolicy, PolicyParams
from streams.processor.state import StreamState, Tables

PARAMS = PolicyParams(budget_per_minute=1e9, clock="event")


def _batch() -> BatchState:
    return BatchState(LabelRequestPolicy(PARAMS), CtrPrior(), clock=StreamClock("event"))


def _records(path: Path, events: int) -> dict[int, list[tuple[bytes, bytes]]]:
    """A synthetic log as the replayer keys it (searches by query, feedback by its
    search's query), split by partition."""
    write_synthetic_log(path, events, seed=3, items=300)
    return _split(path, {})


def _split(path: Path, parts: dict[int, list[tuple[bytes, bytes]]]
           ) -> dict[int, list[tuple[bytes, bytes]]]:
    """Add the log at `path` to `parts`, keyed and partitioned as the replayer does."""
    query_of: dict[str, str] = {}
    for raw in path.read_bytes().splitlines():
        event = json.loads(raw)
        if event["type"] == "search":
            key = query_of[event["request_id"]] = event["query"]
        else:
            key = query_of.get(event["request_id"], event["request_id"])
        parts.setdefault(key_partition(key), []).append((key.encode(), raw))
    return parts


def _feed(state: BatchState, parts: dict[int, list[tuple[bytes, bytes]]], chunk: int,
          start: dict[int, int] | None = None) -> None:
    """Batches of `chunk` records per partition, partitions interleaved, deltas through
    JSON as the engine sends them."""
    offsets = dict(start or {p: 0 for p in parts})
    while any(offsets[p] < len(parts[p]) for p in parts):
        for p, records in parts.items():
            first = offsets[p]
            batch = [(k, v, first + n) for n, (k, v) in enumerate(records[first:first + chunk])]
            offsets[p] += len(batch)
            deltas, dead = state.count_search_log(batch, p, "search-log")
            assert dead == []
            for target, entries in deltas.items():
                message = from_json(to_json({"s": p, "d": entries}))
                state.count_deltas(message["d"], message["s"], target)


def _rows(state: StreamState) -> dict[str, list[str]]:
    return {view: sorted(json.dumps(r, sort_keys=True, default=str) for r in rows)
            for view, rows in state.collect_rows().items()}


def test_same_rows_as_the_per_message_state(tmp_path: Path) -> None:
    parts = _records(tmp_path / "log.jsonl", 6000)
    one = StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(PARAMS), CtrPrior(),
                      clock=StreamClock("event"))
    for p, records in parts.items():
        for key, raw in records:
            out = one.on_search_log(key, raw, "", p)
            for item_id, delta in out.deltas:
                one.on_item_delta(delta, key_partition(item_id))
    batch = _batch()
    _feed(batch, parts, chunk=500)
    assert batch.stats["item_counted"] == one.stats["item_counted"] > 0
    assert _rows(batch) == _rows(one)


def test_query_ages_equal_the_per_message_state() -> None:
    """The batch engine keeps each query's first hour in 24 h in a cache; over searches
    out of order, late and across two days its deltas carry the ages the per-message
    engine computes from the buckets. (Late by at most the 2 h of retention slack: the
    window of a later search reaches below the kept hours, where the per-message engine
    no longer sees the expired buckets and the cache still counts them.)"""
    import random

    rng = random.Random(11)
    t0 = 1_772_323_200_000  # 2026-03-01T00:00Z
    searches = []
    for n in range(1500):
        ts = t0 + n * 120_000 + (-rng.randrange(7_200_000) if rng.random() < 0.2 else 0)
        searches.append((f"e{n}", f"q{rng.randrange(40)}", max(t0, ts)))
    one = StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(PARAMS), CtrPrior(),
                      clock=StreamClock("event"))
    batch = _batch()
    expected, got = {}, {}
    for start in range(0, len(searches), 50):
        records = []
        for offset, (event_id, query, ts) in enumerate(searches[start:start + 50], start):
            raw = json.dumps({"type": "search", "event_id": event_id, "ts": ts / 1000,
                              "request_id": "r" + event_id, "user_id": "u", "query": query,
                              "results": [{"item_id": "sku-1", "position": 1}]}).encode()
            records.append((query.encode(), raw, offset))
            for _, delta in one.on_search_log(query.encode(), raw, "", 0).deltas:
                expected[event_id] = delta["a"]
        deltas, dead = batch.count_search_log(records, 0, "search-log")
        assert dead == []
        for entries in deltas.values():
            got.update((d[1], d[8]) for d in entries)
    assert got == expected
    assert 0 in got.values() and max(v for v in got.values() if v is not None) > 6


def test_snapshot_restore_then_the_rest_equals_one_pass(tmp_path: Path) -> None:
    """Half the stream, snapshots of every partition through the chunked encoding, a fresh
    state restored from them, the other half: the same rows as one uninterrupted pass."""
    parts = _records(tmp_path / "log.jsonl", 4000)
    whole = _batch()
    _feed(whole, parts, chunk=300)

    half = {p: records[:len(records) // 2] for p, records in parts.items()}
    first = _batch()
    _feed(first, half, chunk=300)
    restored = _batch()
    for p in parts:
        sid, chunks = snapshots.encode(first.snapshot(p))
        records: list[tuple[bytes | None, bytes | None]] = [
            (snapshots.chunk_key(sid, n), c) for n, c in enumerate(chunks)]
        records.append((snapshots.MANIFEST_KEY, snapshots.manifest(sid, len(chunks))))
        found = snapshots.decode(records)
        assert found is not None
        restored.restore(found[0])
    restored.collect_rows()  # what a restore marks dirty is pushed; compare what follows
    _feed(restored, parts, chunk=300, start={p: len(r) for p, r in half.items()})
    restored.mark_all_dirty()
    whole.mark_all_dirty()
    assert _rows(restored) == _rows(whole)


def test_a_record_read_again_after_its_snapshot_counts_once(tmp_path: Path) -> None:
    """Offsets before a snapshot read again (the group committed an older offset): the
    seen ids skip the searches, the item watermarks the deltas sent again."""
    parts = _records(tmp_path / "log.jsonl", 2000)
    state = _batch()
    _feed(state, parts, chunk=200)
    before = _rows(state)
    counted = state.stats["item_counted"]
    _feed(state, parts, chunk=170)  # the same offsets, other batch boundaries
    assert state.stats["duplicates"] == sum(len(r) for r in parts.values())
    assert state.stats["item_counted"] == counted
    state.mark_all_dirty()
    assert _rows(state) == before


def test_deltas_sent_twice_are_skipped_by_the_watermark(tmp_path: Path) -> None:
    parts = _records(tmp_path / "log.jsonl", 1000)
    state = _batch()
    p, records = next(iter(parts.items()))
    batch = [(k, v, n) for n, (k, v) in enumerate(records)]
    deltas, _ = state.count_search_log(batch, p, "search-log")
    for target, entries in deltas.items():
        state.count_deltas(entries, p, target)
    counted = state.stats["item_counted"]
    for target, entries in deltas.items():  # a source that restarted sends them again
        state.count_deltas(entries, p, target)
    assert state.stats["item_counted"] == counted
    assert state.stats["duplicate_deltas"] == counted


def test_drop_forgets_a_partition_and_its_dirty_marks(tmp_path: Path) -> None:
    parts = _records(tmp_path / "log.jsonl", 1500)
    state = _batch()
    _feed(state, parts, chunk=400)
    gone = sorted(parts)[0]
    snap = state.snapshot(gone)
    assert snap["query_hours"] and snap["seen"]
    state.drop(gone)
    assert state.snapshot(gone)["query_hours"] == {}
    assert gone not in state.seen
    queries = {k.rpartition("\x1f")[0] for k in snap["query_hours"]}
    assert not queries & state.dirty_queries
    assert all(q not in queries for q, _ in state.dirty_pairs)


def test_a_torn_snapshot_leaves_the_previous_one_in_force() -> None:
    old = {"partition": 1, "n": "old"}
    new: dict[str, Any] = {"partition": 1, "n": "x" * (snapshots.CHUNK_BYTES + 10)}
    sid_old, chunks_old = snapshots.encode(old)
    sid_new, chunks_new = snapshots.encode(new)
    assert len(chunks_new) == 2
    records: list[tuple[bytes | None, bytes | None]] = [
        (snapshots.chunk_key(sid_old, 0), chunks_old[0]),
        (snapshots.MANIFEST_KEY, snapshots.manifest(sid_old, 1)),
        (snapshots.chunk_key(sid_new, 0), chunks_new[0]),  # killed before the rest
    ]
    found = snapshots.decode(records)
    assert found is not None and found[0] == old
    records += [(snapshots.chunk_key(sid_new, 1), chunks_new[1]),
                (snapshots.MANIFEST_KEY, snapshots.manifest(sid_new, 2)),
                (snapshots.chunk_key(sid_old, 0), None)]
    found = snapshots.decode(records)
    assert found is not None and found[0] == new
    assert snapshots.decode([]) is None


def test_bad_lines_are_dead_letters_not_errors() -> None:
    state = _batch()
    batch = [(b"q", b"{not json", 0), (b"q", b'{"type": "search"}', 1)]
    deltas, dead = state.count_search_log(batch, 0, "search-log")
    assert deltas == {} and len(dead) == 2
    assert all(d.reason and (d.location or "").startswith("search-log/0/") for d in dead)
    good = [0, "e", 3_600_000, "q", 1, ["i"], None, [1, 0, 0, 0]]
    for bad in ([[0, "e", "i"]], [good, [*good[:7], ["1", 0, 0, 0]]], {"d": 1}):
        with pytest.raises(ValueError):  # the engine dead-letters the whole message
            state.count_deltas(bad, 0, 0)  # type: ignore[arg-type]
    assert state.stats["item_counted"] == 0, "part of a bad message was counted"


def test_seen_ids_are_bounded(tmp_path: Path) -> None:
    """Memory: past `max_seen_ids` a partition forgets its oldest hours of event ids."""
    parts = _records(tmp_path / "log.jsonl", 3000)
    state = BatchState(LabelRequestPolicy(PARAMS), CtrPrior(), clock=StreamClock("event"),
                       max_seen_ids=200)
    _feed(state, parts, chunk=100)
    assert all(len(ids) <= 200 for ids in state.seen.values())
    assert state.stats["seen_ids_dropped_over_cap"] > 0
    assert sum(len(h) for hours in state._seen_hours.values() for h in hours.values()) \
        == sum(len(ids) for ids in state.seen.values())


def test_a_delta_message_spanning_days_is_judged_delta_by_delta() -> None:
    """A backfill's batch of one search-log partition can span days. Its deltas must be
    judged by the clock as each is counted, as the per-message engine judges them, not by
    the message's latest: with the other sources already 60 h on, the older deltas of the
    message were taken as behind the kept hours and not counted (found on a 3-day shop:
    9,198 of 83,918 item deltas)."""
    hour_ms = 3_600_000
    t0 = 1_772_323_200_000  # 2026-03-01T00:00Z
    state = _batch()
    for source in (1, 2, 3):  # the other search-log partitions are 60 h on already
        state.count_deltas([[0, f"s{source}", t0 + 60 * hour_ms, "q", 1, ["sku-x"], None,
                             None]], source, 2)
    spanning = [[n, f"e{n}", t0 + n * hour_ms, "q", 1, [f"sku-{n}"], None, None]
                for n in range(60)]
    state.count_deltas(spanning, 0, 2)
    assert state.stats["expired_deltas"] == 0
    assert state.stats["item_counted"] == 3 + 60
    # The clock ends where one message at a time would leave it.
    assert state.clock.delta_ms[2][0] == t0 + 59 * hour_ms


def test_window_sums_equal_the_plain_definition(tmp_path: Path) -> None:
    """`collect_sums` (its single-bucket shortcut for pairs included) against the window
    sums written out: three stretches of a log 0, 1.5 and 5 hours apart, so pairs, queries
    and items have one bucket in the window or several, inside the 1 h window or not."""
    from datetime import UTC, datetime, timedelta

    from streams.processor import aggregates as agg

    parts: dict[int, list[tuple[bytes, bytes]]] = {}
    start = datetime(2026, 3, 1, tzinfo=UTC)
    for seed, hours in ((3, 0.0), (4, 1.5), (5, 5.0)):
        path = tmp_path / f"log-{seed}.jsonl"
        write_synthetic_log(path, 1500, seed=seed, items=40,
                            start=start + timedelta(hours=hours))
        _split(path, parts)
    state = _batch()
    _feed(state, parts, chunk=400)
    sums = state.collect_sums()
    assert sums.now_ms is not None
    now_hour = sums.now_ms // agg.HOUR_MS

    def plain(buckets: list[tuple[int, list[int]]], width: int) -> list[list[int]]:
        return [[sum(vec[k] for hour, vec in buckets if now_hour - hours < hour <= now_hour)
                 for k in range(width)] for hours in agg.WINDOW_HOURS.values()]

    by_query: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for key, bucket in state.t.query_hours.items():
        query, hour = agg.split_bucket_key(key)
        by_query.setdefault(query, []).append((hour, bucket))
    width = len(agg.COUNT_NAMES)
    several = 0
    for query, item_id, got in sums.pairs:
        buckets = [(h, b["p"][item_id]) for h, b in by_query[query] if item_id in b["p"]]
        several += len(buckets) > 1
        assert [list(s) for s in got] == plain(buckets, width), (query, item_id)
    for query, got in sums.queries:
        assert [list(s) for s in got] == plain([(h, b["q"]) for h, b in by_query[query]],
                                               len(agg.QUERY_COUNT_NAMES))
    for item_id, got in sums.items:
        buckets = [(agg.split_bucket_key(k)[1], b["c"]) for k, b in state.t.item_hours.items()
                   if agg.split_bucket_key(k)[0] == item_id]
        assert [list(s) for s in got] == plain(buckets, width)
    assert len(sums.pairs) > 500 and several > 50
