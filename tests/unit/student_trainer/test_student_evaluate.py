"""Ranking and classification metrics against numbers worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from student_trainer.evaluate import binary_auc, evaluate_pairs, macro_f1, ndcg_at_k


def test_binary_auc_counts_e_against_the_rest() -> None:
    # E scores {0.9, 0.4}, rest {0.5, 0.1}: 3 of 4 pairs ordered right → 0.75
    assert binary_auc([0.9, 0.4, 0.5, 0.1], ["E", "E", "S", "I"]) == pytest.approx(0.75)
    assert math.isnan(binary_auc([0.1, 0.2], ["S", "I"]))


def test_ndcg_by_hand() -> None:
    # ranked gains (1, 3, 0): DCG = 1 + 3/log2(3) = 2.892789;
    # ideal (3, 1, 0): 3 + 1/log2(3) = 3.630930 → 0.796706
    value = ndcg_at_k(["q"] * 3, [0.9, 0.8, 0.1], ["C", "E", "I"])
    assert value == pytest.approx(0.796706, abs=1e-5)
    # a second query ranked perfectly averages in a 1.0; all-I queries are skipped
    both = ndcg_at_k(["q", "q", "q", "r", "r", "z"], [0.9, 0.8, 0.1, 0.7, 0.2, 0.5],
                     ["C", "E", "I", "E", "S", "I"])
    assert both == pytest.approx((0.796706 + 1.0) / 2, abs=1e-5)


def test_macro_f1_by_hand() -> None:
    # E: p=1, r=1/2 → 2/3; S: p=1/2, r=1 → 2/3; C, I absent → 0 each; mean = 1/3
    assert macro_f1(["E", "S", "S"], ["E", "E", "S"]) == pytest.approx(1 / 3)


def test_evaluate_pairs_splits_out_the_long_tail() -> None:
    pairs = [("a", "1"), ("a", "2"), ("b", "1"), ("b", "2")]
    truth = {("a", "1"): "E", ("a", "2"): "I", ("b", "1"): "I", ("b", "2"): "E"}
    probs = np.array([[0.9, 0.1, 0, 0], [0.1, 0, 0, 0.9], [0.8, 0, 0, 0.2], [0.2, 0, 0, 0.8]])
    weights = {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0}
    out = evaluate_pairs(pairs, probs, truth, weights, long_tail=["b"])
    assert out["n"] == 4 and out["lt_n"] == 2
    # E scores {.9, .2} vs rest {.1, .8}: 3 of 4 pairs right overall; in b, .2 < .8
    assert out["auc"] == pytest.approx(0.75) and out["lt_auc"] == 0.0
