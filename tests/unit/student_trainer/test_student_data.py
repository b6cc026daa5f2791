"""Examples from teacher labels: dimension targets, evidence masks, simulator conversion."""

from __future__ import annotations

import json
from pathlib import Path

from relstream.core.cot import word_matches
from relstream.core.schemas import GRADES, CotSteps, DimensionCheck
from student_trainer.batching import cross_encoder_batch, two_tower_batch
from student_trainer.config import CHECK_CLASSES, DIMENSIONS, IGNORE
from student_trainer.data import (
    SIMULATOR_COT_MODEL,
    Example,
    cot_annotations_to_labels,
    dimension_targets,
)
from student_trainer.encoders import load_tokenizer


def test_dimension_targets_map_vocab_other_and_mask() -> None:
    steps = CotSteps(checks=[
        DimensionCheck(dimension="Brand", status="match"),
        DimensionCheck(dimension="shape", status="match"),
        DimensionCheck(dimension="finish", status="mismatch"),  # also "other": worse wins
        DimensionCheck(dimension="size", status="not_stated"),
    ])
    targets = dimension_targets(steps)
    assert len(targets) == len(DIMENSIONS)
    assert targets[DIMENSIONS.index("brand")] == CHECK_CLASSES.index("match")
    assert targets[DIMENSIONS.index("other")] == CHECK_CLASSES.index("mismatch")
    assert targets[DIMENSIONS.index("size")] == CHECK_CLASSES.index("not_stated")
    assert targets[DIMENSIONS.index("color")] == IGNORE


def test_word_matching_allows_plurals_but_not_short_prefixes() -> None:
    assert word_matches("shoes", {"shoe"}) and word_matches("Stride", {"stride"})
    assert not word_matches("men", {"menswear"}) and not word_matches("red", {"redwood"})


def test_evidence_mask_marks_deciding_words_in_both_texts(examples: list[Example]) -> None:
    tok = load_tokenizer()
    batch = cross_encoder_batch(examples[:1], tok, 64, with_evidence=True)
    ids = batch["input_ids"][0]
    marked = {tok.convert_ids_to_tokens(int(ids[i]))
              for i in range(len(ids)) if batch["evidence_mask"][0, i] > 0}
    # evidence: running shoe, stride, black, men's
    assert {"running", "shoe", "stride", "black", "men"} <= marked
    assert "[CLS]" not in marked and "40" not in marked


def test_two_tower_batch_has_cot_texts_only_when_asked(examples: list[Example]) -> None:
    tok = load_tokenizer()
    assert "cq_input_ids" not in two_tower_batch(examples, tok, 32)
    batch = two_tower_batch(examples, tok, 32, with_cot=True)
    assert batch["cq_input_ids"].shape[0] == batch["ci_input_ids"].shape[0] == len(examples)


def test_simulator_cot_annotations_become_flagged_labels(tmp_path: Path) -> None:
    row = {"query": "red mug", "item_id": "i4", "grade": "S", "split": "train",
           "steps": {"query_analysis": {"type": "mug", "color": "red"},
                     "item_analysis": {"type": "mug", "color": "white"},
                     "checks": [{"dimension": "color", "status": "mismatch",
                                 "evidence": ["red", "white"]}], "grade": "S"},
           "cot": "Query: ..."}
    path = tmp_path / "cot.jsonl"
    path.write_text(json.dumps(row) + "\n")
    (label,) = cot_annotations_to_labels(path)
    assert label.teacher.model == SIMULATOR_COT_MODEL and label.grade == "S"
    assert abs(sum(label.grade_probs.values()) - 1) < 1e-9
    assert label.steps.checks[0].evidence == ["red", "white"]


def test_grade_order_is_the_schema_order() -> None:

    assert GRADES == GRADES
