"""The bootstrap's choice of pre-launch pairs: shown before the launch, never the new
brand's, train/validation queries only, spread over many queries."""

from __future__ import annotations

import json
from pathlib import Path

from relstream.core.shop_files import load_splits
from relstream.tools.demo.bootstrap import labels_cache, prelaunch_shown_pairs
from relstream.tools.demo.plan import PLANS
from relstream.tools.demo.world import make_world


def test_prelaunch_pairs_are_shown_before_the_launch_and_spread(tmp_path: Path) -> None:
    world, _ = make_world(PLANS["tiny"], tmp_path / "world")
    shown = set()
    for line in world.pre_log.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "search":
            shown |= {(event["query"], r["item_id"]) for r in event["results"]}
    splits = load_splits(world.dir)
    pairs = prelaunch_shown_pairs(world, 60)
    assert len(pairs) == 60 and len({(q, i) for _, q, i in pairs}) == 60
    for split, query, item in pairs:
        assert (query, item) in shown
        assert query in splits[split] and split in ("train", "validation")
        assert query not in world.new_brand_queries
    queries = [q for _, q, _ in pairs]
    # round-robin: the first pairs are all different queries
    first = queries[: min(20, len(set(queries)))]
    assert len(set(first)) == len(first)
    assert prelaunch_shown_pairs(world, 60) == pairs  # deterministic
    assert labels_cache(tmp_path, world, "t1") != labels_cache(tmp_path, world, "t2")
