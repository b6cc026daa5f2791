"""The INT8 gate of an exported version: how much validation AUC the quantized graphs lose.

INT8 graphs run ~2.4× faster on these CPUs but change logits by a few hundredths. At
export time both the fp32 and the INT8 graphs score the same validation pairs with
onnxruntime; the two AUCs (E vs rest) go into the manifest as `int8_gate`, and serving
(`serving.precision`) serves INT8 only when `fp32_auc - int8_auc <= MAX_AUC_DROP`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relstream.core.manifest import ModelManifest
from relstream.core.schemas import GRADES
from student_trainer.data import Example
from student_trainer.evaluate import binary_auc

MAX_AUC_DROP = 0.005
"""Largest validation AUC loss of INT8 against fp32 that may be served (serving's default)."""
MAX_PAIRS = 2000
"""Pairs scored per precision: enough for AUC to ±0.01, bounded so a gate costs seconds."""


def teacher_grades(examples: Sequence[Example]) -> list[str]:
    """The teacher's argmax grade per example (the online trainer's validation truth)."""
    return [GRADES[e.hard_label] for e in examples]


def gate_record(fp32_auc: float, int8_auc: float, pairs: int,
                max_auc_drop: float = MAX_AUC_DROP) -> dict[str, Any]:
    """The manifest entry: both AUCs, the loss, the tolerance and whether INT8 passes."""
    drop = fp32_auc - int8_auc
    passed = math.isfinite(drop) and drop <= max_auc_drop
    return {"fp32_auc": fp32_auc, "int8_auc": int8_auc, "auc_drop": drop,
            "max_auc_drop": max_auc_drop, "pairs": pairs, "passed": passed}


def measure_int8(directory: Path, manifest: ModelManifest, tokenizer: Any,
                 examples: Sequence[Example], grades: Sequence[str], *,
                 max_pairs: int = MAX_PAIRS) -> dict[str, Any]:
    """Score `examples` with the fp32 and INT8 graphs of `directory`; the gate record.

    `grades[i]` is the truth of `examples[i]` (E, S, C or I); the first `max_pairs` are
    used. Scores are the manifest's `Σ w_g·softmax(logits)_g`, as served.
    """
    from student_trainer.onnx_predict import OnnxStudent

    pairs = list(zip(examples, grades, strict=True))[:max_pairs]
    chosen = [e for e, _ in pairs]
    truth = [g for _, g in pairs]
    served = manifest.grade_weights()
    weights = np.asarray([served[g] for g in GRADES])
    aucs = []
    for int8 in (False, True):
        probs = OnnxStudent(directory, manifest, int8=int8).predict_probs(chosen, tokenizer)
        aucs.append(binary_auc((probs @ weights).tolist(), truth))
    return gate_record(aucs[0], aucs[1], len(pairs))
