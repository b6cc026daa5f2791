"""Evaluation metrics with numbers worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from teacher_worker.errors import TeacherWorkerError
from teacher_worker.evaluate import (
    classification_metrics,
    expected_calibration_error,
    report,
    sample_pairs,
)


def _p(e: float, s: float, c: float, i: float) -> dict[str, float]:
    return {"E": e, "S": s, "C": c, "I": i}


def test_metrics_by_hand() -> None:
    truth = ["E", "S", "I", "E"]
    probs = [_p(.7, .1, .1, .1), _p(.2, .6, .1, .1), _p(.6, .1, .1, .2), _p(.9, .05, .025, .025)]
    m = classification_metrics(truth, probs)  # type: ignore[arg-type]
    assert m["accuracy"] == pytest.approx(0.75)
    # F1: E = 0.8 (P 2/3, R 1), S = 1, C = 0, I = 0 → mean 0.45
    assert m["macro_f1"] == pytest.approx(0.45)
    # p(E) ranks both E pairs above both others
    assert m["auc_e_vs_rest"] == pytest.approx(1.0)
    # bins: 0.6 → {.6 wrong, .6 right}: .5·|.5−.6|; 0.7: .25·.3; 0.9: .25·.1 → 0.15
    assert m["ece"] == pytest.approx(0.15)


def test_ece_is_zero_when_confidence_matches_accuracy() -> None:
    conf = np.array([0.75] * 4)
    assert expected_calibration_error(conf, np.array([1, 1, 1, 0])) == pytest.approx(0.0)


def test_mismatched_inputs_are_an_error() -> None:
    with pytest.raises(TeacherWorkerError):
        classification_metrics(["E"], [])  # type: ignore[list-item]


def test_report_adds_the_long_tail_subset_and_sampling_is_seeded() -> None:
    labels = {("a", "1"): "E", ("a", "2"): "I", ("b", "1"): "E", ("b", "3"): "S"}
    pairs = sample_pairs(labels, ["a", "b"], None)  # type: ignore[arg-type]
    probs = [_p(.9, .1, 0, 0), _p(.1, 0, 0, .9), _p(.2, .8, 0, 0), _p(.1, .9, 0, 0)]
    row = report("m", pairs, labels, probs, long_tail={"b"})  # type: ignore[arg-type]
    assert row["n"] == 4 and row["tail_n"] == 2
    assert row["tail_accuracy"] == pytest.approx(0.5)
    assert sample_pairs(labels, ["a", "b"], 2, seed=1) == sample_pairs(labels, ["a", "b"], 2,
                                                                        seed=1)
