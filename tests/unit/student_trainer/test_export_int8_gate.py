"""The INT8 gate recorded at export: both precisions scored on the same validation pairs,
the loss against the tolerance, and what serving then loads."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from relstream.core import registry
from relstream.core.manifest import read_manifest
from serving.precision import choose_graphs
from student_trainer.data import Example
from student_trainer.encoders import load_tokenizer
from student_trainer.evaluate import binary_auc
from student_trainer.export import export_student, tiny_config
from student_trainer.factory import build_student
from student_trainer.int8_gate import MAX_AUC_DROP, gate_record, teacher_grades
from student_trainer.onnx_predict import OnnxStudent


def test_gate_record_by_hand() -> None:
    ok = gate_record(0.861, 0.858, 100)
    assert ok["passed"] and math.isclose(ok["auc_drop"], 0.003)
    assert ok["max_auc_drop"] == MAX_AUC_DROP == 0.005
    assert not gate_record(0.861, 0.855, 100)["passed"]  # 0.006 lost
    assert gate_record(0.80, 0.83, 100)["passed"]  # INT8 better is fine
    assert not gate_record(float("nan"), 0.8, 100)["passed"]


def test_export_records_the_gate_serving_reads(tmp_path: Path, examples: list[Example]) -> None:
    torch.manual_seed(0)
    tokenizer = load_tokenizer()
    student = build_student(tiny_config("cross_encoder"), tokenizer=tokenizer)
    grades = teacher_grades(examples)
    assert set(grades) >= {"E", "I"}
    manifest = export_student(student, tokenizer, tmp_path / "stage",
                              int8_validation=(examples, grades))
    gate = manifest.int8_gate
    assert gate["pairs"] == len(examples)
    assert manifest.quantized_graphs == {"scorer": "model.int8.onnx"}
    weights = np.asarray([manifest.score_weights[g] for g in "ESCI"])
    for int8, key in ((False, "fp32_auc"), (True, "int8_auc")):
        probs = OnnxStudent(tmp_path / "stage", manifest, int8=int8).predict_probs(
            examples, tokenizer)
        assert gate[key] == binary_auc((probs @ weights).tolist(), grades)
    assert gate["passed"] == (gate["fp32_auc"] - gate["int8_auc"] <= MAX_AUC_DROP)
    version = registry.publish(tmp_path / "reg", tmp_path / "stage", "cross_encoder")
    served = read_manifest(registry.version_dir(tmp_path / "reg", "cross_encoder", version))
    assert served.int8_gate == gate
    assert choose_graphs(served).name == ("int8" if gate["passed"] else "fp32")


def test_the_online_publisher_gates_int8_on_its_validation_pairs(
    tmp_path: Path, examples: list[Example]
) -> None:
    from student_trainer.online import publisher

    tokenizer = load_tokenizer()
    student = build_student(tiny_config("two_tower"), tokenizer=tokenizer)
    kwargs = {"metrics": {}, "config": {}, "training_window": {}, "parent_version": None}
    staged = publisher.stage_candidate(tmp_path, "two_tower", student, tokenizer,
                                       validation=examples, **kwargs)  # type: ignore[arg-type]
    assert staged.error is None and staged.manifest is not None
    assert staged.manifest.int8_gate["pairs"] == len(examples)
    assert set(staged.manifest.quantized_graphs) == {"query_tower", "item_tower", "head"}
    plain = publisher.stage_candidate(tmp_path, "two_tower", student, tokenizer,
                                      **kwargs)  # type: ignore[arg-type]
    assert plain.manifest is not None and plain.manifest.int8_gate is None
