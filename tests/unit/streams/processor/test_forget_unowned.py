"""A worker forgets the state of partitions a rebalance took from it (and pushes none of it)."""

from __future__ import annotations

import json

from relstream.core.topics import PARTITIONS
from streams.processor.aggregates import CtrPrior
from streams.processor.clock import key_partition
from streams.processor.policy import LabelRequestPolicy, PolicyParams
from streams.processor.state import StreamState, Tables

T0 = "2026-03-01T12:00:00.000Z"


def _two_in_different_partitions(prefix: str) -> tuple[str, str]:
    first = f"{prefix}0"
    other = next(f"{prefix}{n}" for n in range(1, 1000)
                 if key_partition(f"{prefix}{n}") != key_partition(first))
    return first, other


def _search(eid: str, query: str, items: list[str]) -> bytes:
    return json.dumps({"type": "search", "event_id": eid, "ts": T0, "request_id": "r" + eid,
                       "user_id": "u", "query": query,
                       "results": [{"item_id": i, "position": k + 1}
                                   for k, i in enumerate(items)]}).encode()


def test_rebuild_forgets_entities_of_partitions_not_owned() -> None:
    state = StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(PolicyParams()),
                        CtrPrior(0.05, 20))
    kept_q, gone_q = _two_in_different_partitions("q")
    kept_i, gone_i = _two_in_different_partitions("i")
    for n, query in enumerate((kept_q, gone_q)):
        out = state.on_search_log(query.encode(), _search(f"s{n}", query, [kept_i, gone_i]),
                                  "here")
        for _, delta in out.deltas:
            state.on_item_delta(delta)
    state.collect_rows()
    everything = set(range(PARTITIONS))
    owned = {"query_hours": everything - {key_partition(gone_q)},
             "item_hours": everything - {key_partition(gone_i)},
             "requested": everything - {key_partition(gone_i)},
             "catalog": everything - {key_partition(gone_i)}}
    state.rebuild(owned)
    # Gone from this worker's tables (dicts here; on Faust, its memory store's dict, so
    # no tombstone reaches the changelog the new owner restores from).
    assert {k.split("\x1f")[0] for k in state.t.query_hours} == {kept_q}
    assert {k.split("\x1f")[0] for k in state.t.item_hours} == {kept_i}
    assert state.stats["entries_forgotten"] == 2
    rows = state.collect_rows()
    assert [r["query"] for r in rows["query_stats"]] == [kept_q]
    assert {(r["query"], r["item_id"]) for r in rows["pair_stats"]} == {
        (kept_q, kept_i), (kept_q, gone_i)}  # a pair's row comes from its query's bucket
    assert [r["item_id"] for r in rows["item_stats"]] == [kept_i]
    assert rows["query_stats"][0]["searches_24h"] == 1


def test_forget_clears_dirty_marks_of_partitions_not_owned() -> None:
    state = StreamState(Tables({}, {}, {}, {}), LabelRequestPolicy(PolicyParams()),
                        CtrPrior(0.05, 20))
    kept_q, gone_q = _two_in_different_partitions("q")
    for n, query in enumerate((kept_q, gone_q)):
        state.on_search_log(query.encode(), _search(f"s{n}", query, ["a"]), "here")
    state.forget_unowned({"query_hours": {key_partition(kept_q)}})
    assert state.dirty_queries == {kept_q}
    assert {q for q, _ in state.dirty_pairs} == {kept_q}
    assert state.dirty_items == set()  # no item deltas were handled
