"""Leave-one-family-out end to end on three tiny simulated families: each fold trains a
real (tiny, 2-step) LoRA SFT on the other families' annotations, fits its calibration on
their validation pairs (never the held-out family's) and judges with the transformers
backend on that fold's model; a rerun trains and judges nothing again; the plan refuses
folds that would not be unseen."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relstream.tools.family_eval import FamilyEvalConfig, family_world, judgement_path
from relstream.tools.lofo import LofoPlan, markdown, run_lofo
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.judgement_cache import read_cache
from teacher_worker.settings import TeacherSettings
from teacher_worker.sft_data import read_annotations


def test_two_folds_train_judge_resume_and_table(tmp_path: Path, tiny_dir: Path) -> None:
    plan = LofoPlan(families=(0, 1, 2), heldout=(1, 2), in_family=0, base_saw=(),
                    sft={"max_steps": 2, "batch_size": 2, "save_every": 1, "seed": 0})
    worlds_dir, models = tmp_path / "worlds", tmp_path / "models"
    config = FamilyEvalConfig(families=(0, 1, 2), items=500, searches=400, days=1.0, limit=10)
    settings = TeacherSettings(state_dir=tmp_path / "state", teacher_backend="transformers",
                               teacher_device="cpu", teacher_max_new_tokens=8,
                               teacher_calibration="off")
    result = run_lofo(settings, plan, config, worlds_dir, models, tiny_dir, device="cpu",
                      calibration_pairs=20)

    folds = result["folds"]
    assert [f["heldout_family"] for f in folds] == [1, 2]
    assert [f["training_families"] for f in folds] == [[0, 2], [0, 1]]
    for fold in folds:
        k = fold["heldout_family"]
        train = [read_annotations(family_world(worlds_dir, config, f) / "cot_annotations.jsonl")
                 for f in fold["training_families"]]
        # The fold trained on both other families' train annotations, and nothing else.
        assert fold["sft"]["steps"] == 2 and fold["sft"]["examples"] == sum(map(len, train))
        assert fold["pairs"] == 10 and fold["in_family"]["family"] == 0
        for scores in (fold["teacher"], fold["tfidf"], fold["in_family"]["teacher"]):
            assert {"auc", "macro_f1", "ece", "tail_auc"} <= set(scores)
        goal = fold["goal"]
        assert goal["met"] == (goal["auc_vs_tfidf"] >= 0.05 and goal["macro_f1_vs_tfidf"] > 0
                               and goal["ece"] <= 0.10)
        # Judged by this fold's own model: its judgements are kept under its model dir.
        # The held-out world: its 10 test pairs only; family 0: 10 test + 10 validation
        # (calibration); the other training family: 10 validation pairs.
        model = models / f"fold{k}"
        judged = {f: len(read_cache(judgement_path(family_world(worlds_dir, config, f), model)))
                  for f in (0, 1, 2)}
        assert judged == {0: 20, k: 10, 3 - k: 10}
        assert fold["teacher_run"]["labelled"] == 10
        fit = json.loads((model / "calibration.json").read_text())["fit"]
        assert fit["families"] == fold["training_families"] and fit["pairs"] == 20
        assert {"auc", "ece"} <= set(fold["teacher_calibrated"])
        assert fold["goal_calibrated"]["ece"] == fold["teacher_calibrated"]["ece"]
    assert result["mean"]["goals_met"] == sum(f["goal"]["met"] for f in folds)
    json.dumps(result)

    summary = models / "fold1" / "sft_summary.json"
    written = summary.stat().st_mtime_ns
    again = run_lofo(settings, plan, config, worlds_dir, models, tiny_dir, device="cpu",
                     calibration_pairs=20)
    assert summary.stat().st_mtime_ns == written  # not trained again
    assert [f["teacher_run"]["labelled"] for f in again["folds"]] == [0, 0]
    assert [f["teacher"] for f in again["folds"]] == [f["teacher"] for f in folds]

    table = markdown(result)
    header, rule, *rows = table.splitlines()
    assert header.count("|") == rule.count("|") == rows[0].count("|")
    assert all(r.count("|") == header.count("|") for r in rows)
    assert rows[0].startswith("| 1 ") and sum("of 2 |" in r for r in rows) == 2


def test_plan_refuses_folds_that_are_not_unseen() -> None:
    with pytest.raises(TeacherWorkerError, match="trained on it"):
        LofoPlan(heldout=(0, 1), in_family=2)  # the shipped teacher saw family 0
    with pytest.raises(TeacherWorkerError, match="in-family"):
        LofoPlan(heldout=(1, 2), in_family=1)
    with pytest.raises(TeacherWorkerError, match="not all among"):
        LofoPlan(families=(0, 1, 2), heldout=(3,))
