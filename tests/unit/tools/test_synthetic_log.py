"""The load generator's two query mixes: distinct queries per search (default) and a
Zipf-popular pool whose queries and pairs come back, as in a shop's log."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from relstream.tools.synthetic_log import write_synthetic_log


def _searches(path: Path) -> list[dict]:
    events = [json.loads(line) for line in path.read_text().splitlines()]
    return [e for e in events if e["type"] == "search"]


def test_zipf_pool_repeats_queries_and_their_results(tmp_path: Path) -> None:
    path = tmp_path / "zipf.jsonl"
    assert write_synthetic_log(path, 6000, seed=2, items=500, queries=300) == 6000
    searches = _searches(path)
    by_query = Counter(s["query"] for s in searches)
    assert len(by_query) <= 300
    # Head queries dominate: the top 1 % of the pool takes a large share of the searches.
    top = sum(n for _, n in by_query.most_common(3))
    assert top / len(searches) > 0.15
    # A query's searches draw from its own 27 items: 7 always shown first, 3 of 20 more.
    head_query = by_query.most_common(1)[0][0]
    shown = [[r["item_id"] for r in s["results"]] for s in searches if s["query"] == head_query]
    assert all(len(results) == len(set(results)) == 10 for results in shown)
    assert all(results[:7] == shown[0][:7] for results in shown)
    assert len({item for results in shown for item in results}) <= 27
    # Deterministic for a seed.
    again = tmp_path / "again.jsonl"
    write_synthetic_log(again, 6000, seed=2, items=500, queries=300)
    assert again.read_bytes() == path.read_bytes()


def test_default_mix_makes_nearly_every_search_a_new_pair(tmp_path: Path) -> None:
    path = tmp_path / "uniform.jsonl"
    write_synthetic_log(path, 3000, seed=2, items=500)
    searches = _searches(path)
    pairs = [(s["query"], r["item_id"]) for s in searches for r in s["results"]]
    zipf = tmp_path / "zipf.jsonl"
    write_synthetic_log(zipf, 3000, seed=2, items=500, queries=300)
    zipf_pairs = [(s["query"], r["item_id"]) for s in _searches(zipf) for r in s["results"]]
    assert len(set(pairs)) / len(pairs) > 0.8
    assert len(set(zipf_pairs)) / len(zipf_pairs) < 0.5
