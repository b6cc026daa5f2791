"""The demo's offline look at the arms' final models: published ONNX versions scored on
every ground-truth pair of the new brand's queries, matching the torch student."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from relstream.tools.demo.final_models import arm_versions, render, score_versions


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    return simulate(SimConfig(out=tmp_path_factory.mktemp("world"), seed=2, items=150,
                              days=1, searches=300, scenario="new-brand"))


def _publish(root: Path, seed: int) -> tuple[str, object]:
    import torch

    from student_trainer.encoders import load_tokenizer
    from student_trainer.export import tiny_config
    from student_trainer.factory import build_student
    from student_trainer.online import publisher

    torch.manual_seed(seed)
    student = build_student(tiny_config("cross_encoder"))
    staged = publisher.stage_candidate(root, "cross_encoder", student, load_tokenizer(),
                                       metrics={}, config={}, training_window={},
                                       parent_version=None)
    assert staged.error is None, staged.error
    return publisher.publish_and_announce(root, "cross_encoder", staged, None), student


def test_both_arms_scored_on_every_new_brand_pair(world: Path, tmp_path: Path) -> None:
    from relstream.core.shop_files import load_labels
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import grade_metrics

    registry_root = tmp_path / "registry"
    v1, _ = _publish(registry_root, 1)
    v2, student2 = _publish(registry_root, 2)
    ab = tmp_path / "ab-config.json"
    ab.write_text(json.dumps({"arms": [
        {"name": "frozen", "model": "cross_encoder", "version": v1, "share": 0.5},
        {"name": "continuous", "model": "cross_encoder", "version": "latest", "share": 0.5}]}))
    versions = arm_versions(ab, registry_root, "cross_encoder")
    assert versions == {"frozen": v1, "continuous": v2}

    scenario = json.loads((world / "scenario.json").read_text())
    queries = scenario["new_brand_queries"]
    rows = score_versions(world, registry_root, "cross_encoder", versions)

    wanted = {q.lower() for q in queries}
    n_pairs = sum(1 for (q, _) in load_labels(world) if q in wanted)
    assert [r["arm"] for r in rows] == ["frozen", "continuous"]
    assert all(int(r["n"]) == n_pairs > 0 for r in rows)
    # The ONNX scores of v2 give the same metrics as its torch student on those pairs.
    from relstream.tools.compare_versions import brand_eval_set
    from student_trainer.online.prequential import GroundTruth

    examples, grades = brand_eval_set(world, GroundTruth.from_world(world))
    assert len(examples) == n_pairs
    probs = student2.predict_logits(examples, load_tokenizer()).softmax(-1).numpy()
    torch_metrics = grade_metrics([ex.query for ex in examples], probs.astype(np.float64),
                                  grades, student2.config.score_weights)
    assert rows[1]["auc"] == pytest.approx(torch_metrics["auc"], abs=1e-6)
    assert rows[1]["ndcg_lin@10"] == pytest.approx(torch_metrics["ndcg_lin@10"], abs=1e-6)
    assert "| continuous | v2 |" in render(rows)
