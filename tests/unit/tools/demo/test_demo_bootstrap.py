"""The bootstrap's choice of pre-launch pairs (shown before the launch, never the new
brand's, train/validation queries only, spread over many queries) and of the
initialisation it publishes."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from relstream.core.shop_files import load_splits
from relstream.tools.demo.bootstrap import (
    better_on_validation,
    labels_cache,
    prelaunch_shown_pairs,
)
from relstream.tools.demo.plan import PLANS, DemoError
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


def test_the_initialisation_kept_is_the_one_agreeing_best_with_the_teacher() -> None:
    # The three initialisations of one world (docs/demo.md): 0.750, 0.853 and 0.847 AUC.
    weak = {"val_teacher_acc": 0.615, "val_soft_ce": 0.828}
    good = {"val_teacher_acc": 0.688, "val_soft_ce": 0.960}
    best = {"val_teacher_acc": 0.697, "val_soft_ce": 0.805}
    assert better_on_validation(good, weak) and not better_on_validation(weak, good)
    assert better_on_validation(best, good)
    # equal agreement: the lower soft cross-entropy; a run without metrics never wins
    assert better_on_validation({"val_teacher_acc": 0.7, "val_soft_ce": 0.5},
                                {"val_teacher_acc": 0.7, "val_soft_ce": 0.6})
    nan = float("nan")
    assert not better_on_validation({"val_teacher_acc": nan, "val_soft_ce": nan}, weak)
    assert better_on_validation(weak, {"val_teacher_acc": nan, "val_soft_ce": nan})


def test_a_plan_needs_at_least_one_initialisation() -> None:
    with pytest.raises(DemoError, match="candidates"):
        replace(PLANS["quick"], bootstrap_candidates=0)


def test_the_plans_weight_average_reaches_the_continuous_trainer(tmp_path: Path) -> None:
    from relstream.core.settings import CommonSettings
    from relstream.tools.demo.children import Layout, trainer_spec

    plan = replace(PLANS["quick"], student_ema_decay=0.9)
    spec = trainer_spec(CommonSettings(), Layout(tmp_path), plan, "ce", via_relstream=True)
    assert spec.env["RELSTREAM_ONLINE_EMA_DECAY"] == "0.9"
    assert PLANS["quick"].student_ema_decay == 0.0, "off unless asked for"
    with pytest.raises(DemoError, match="student_ema_decay"):
        replace(plan, student_ema_decay=1.0)
