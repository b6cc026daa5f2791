"""`relstream bench drift`: NDCG of result lists as shown and reordered, per world."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from relstream.cli import build_parser
from relstream.tools.demo.drift_check import check_world, lists_ndcg
from relstream.tools.demo.plan import TINY, DemoError

LABELS = {("q", "a"): "E", ("q", "b"): "S", ("q", "c"): "I", ("r", "x"): "C"}


def test_lists_ndcg_reorders_each_search_and_counts_unlabelled_pairs_as_irrelevant() -> None:
    shown = [("q", ["c", "b", "a"])]
    assert lists_ndcg(shown, LABELS, {("q", "a"): 3.0, ("q", "b"): 2.0, ("q", "c"): 1.0}) == 1.0
    as_shown = lists_ndcg(shown, LABELS, None)
    ideal = 1.0 + 0.1 / math.log2(3)
    assert as_shown == pytest.approx((0.1 / math.log2(3) + 1.0 / math.log2(4)) / ideal)
    # two searches of one query are two lists, not one group of six items
    twice = lists_ndcg([("q", ["a", "b"]), ("q", ["b", "a"])], LABELS, None)
    assert twice == pytest.approx((1.0 + (0.1 + 1.0 / math.log2(3)) / ideal) / 2)
    # an item with no label is Irrelevant; a list with no gain at all is skipped
    assert lists_ndcg([("q", ["zz", "a"]), ("s", ["a"])], LABELS, None) == pytest.approx(
        1.0 / math.log2(3))


def test_check_world_scores_the_brand_and_the_other_queries(tmp_path: Path) -> None:
    plan = replace(TINY, seed=3, knockoffs=1.0, bootstrap_labels=120, bootstrap_epochs=1)
    row = check_world(plan, tmp_path)
    assert row["brand_searches"] > 0 and row["other_searches"] > 0
    for ranker in ("retriever", "tfidf", "oracle"):
        for part in ("brand", "other"):
            assert 0.0 <= row[f"{ranker}_{part}"] <= 1.0, (ranker, part, row)
    assert row["launch_cost"] == pytest.approx(row["oracle_other"] - row["oracle_brand"])
    assert row["train_pairs"] > 0 and row["validation_pairs"] >= 0
    with pytest.raises(DemoError, match="bootstrap_labels=0"):
        check_world(replace(plan, bootstrap_labels=0), tmp_path)


def test_bench_drift_command_writes_its_results(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["bench", "drift", "--plan", "tiny", "--seeds", "1-2", "--no-oracle", "--knockoffs",
         "1", "--worlds", str(tmp_path / "w"), "--out", str(tmp_path / "r")])
    assert args.func(args) == 0
    saved = json.loads((tmp_path / "r" / "bench-drift.json").read_text())
    assert [r["seed"] for r in saved["rows"]] == [1, 2] and saved["knockoffs"] == 1.0
    assert all("oracle_brand" not in r and r["tfidf_brand"] >= 0 for r in saved["rows"])
