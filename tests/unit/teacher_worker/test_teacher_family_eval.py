"""Per-family evaluation end to end on two tiny simulated families, with the lexical
baseline teacher standing in for the LLM (instant): the fold layout the LOFO file promises,
the judgement cache (a rerun judges nothing), and the table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relstream.tools.family_eval import (
    FamilyEvalConfig,
    evaluate_families,
    family_world,
    judgement_path,
    markdown,
)
from teacher_worker.backends.lexical_backend import LexicalTeacher
from teacher_worker.calibration import Calibration
from teacher_worker.judgement_cache import read_cache


def test_two_families_fold_layout_cache_and_table(tmp_path: Path) -> None:
    config = FamilyEvalConfig(families=(0, 3), items=500, searches=400, days=1.0, limit=30)
    model_dir = tmp_path / "model"
    calibration = Calibration("temperature", 2.0)
    result = evaluate_families(LexicalTeacher(), calibration, config, tmp_path / "worlds",
                               model_dir)
    folds = result["folds"]
    assert [f["heldout_family"] for f in folds] == [0, 3]
    assert [f["in_family"] for f in folds] == [True, False]
    assert result["in_family"]["heldout_family"] == 0
    for fold in folds:
        assert fold["pairs"] == 30 and fold["teacher_run"]["labelled"] == 30
        for model in ("teacher", "teacher_calibrated", "tfidf"):
            assert {"auc", "macro_f1", "ece"} <= set(fold[model])
            assert 0.0 <= fold[model]["ece"] <= 1.0
        # Temperature keeps the argmax, so accuracy is unchanged and confidence drops.
        assert fold["teacher_calibrated"]["accuracy"] == fold["teacher"]["accuracy"]
    # One unseen family: its mean is its own scores.
    assert result["mean_unseen"]["tfidf"]["auc"] == pytest.approx(folds[1]["tfidf"]["auc"])
    json.dumps(result)  # the results file is plain JSON

    world = family_world(tmp_path / "worlds", config, 3)
    assert len(read_cache(judgement_path(world, model_dir))) == 30
    again = evaluate_families(LexicalTeacher(), None, config, tmp_path / "worlds", model_dir)
    assert [f["teacher_run"]["labelled"] for f in again["folds"]] == [0, 0]
    assert again["folds"][1]["teacher"] == folds[1]["teacher"]
    assert "teacher_calibrated" not in again["folds"][1]

    table = markdown(result)
    assert "| 0 general (in-family) | 30 |" in table
    assert "**mean, unseen families**" in table and "Long-tail" in table
    header, rule = table.splitlines()[:2]
    assert header.count("|") == rule.count("|")


def test_a_torn_last_line_is_judged_again(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    path.write_text(json.dumps({"query": "q", "item_id": "i", "parsed": True,
                                "marker_found": True,
                                "grade_probs": {"E": 1.0, "S": 0.0, "C": 0.0, "I": 0.0}})
                    + "\n" + '{"query": "q2", "item')
    assert list(read_cache(path)) == [("q", "i")]
