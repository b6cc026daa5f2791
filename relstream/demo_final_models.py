"""The two models the arms end the demo with, scored offline on the new brand's pairs.

The A/B report measures what users were served while the experiment ran, the continuous
arm's early post-launch versions included, with traffic noise. This measures the frozen
arm's pinned version and the continuous arm's last version on *every* ground-truth pair
of the new brand's queries that the world knows, through the published ONNX graphs
(what serving runs). Ground truth is read only to evaluate, as in the A/B report's NDCG.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def arm_versions(ab_config: Path, registry_root: Path, name: str) -> dict[str, str]:
    """{"frozen": its pinned version, "continuous": the latest published version}."""
    from student_trainer import registry

    config = json.loads(ab_config.read_text())
    out = {arm["name"]: str(arm["version"]) for arm in config["arms"]
           if arm["version"] != "latest"}
    latest = registry.latest_version(registry_root, name)
    if latest is not None:
        out["continuous"] = latest
    return out


def score_versions(world_dir: Path, registry_root: Path, name: str,
                   versions: dict[str, str]) -> list[dict[str, Any]]:
    """One row per arm: version, AUC (E vs rest), `ndcg_lin@10` (linear gains 3/2/1/0, not
    the A/B report's ESCI-gain `ndcg@10`), macro-F1, pairs, on every ground-truth pair of
    the new brand's queries (from the world's scenario)."""
    from student_trainer import registry
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import grade_metrics
    from student_trainer.online.compare import brand_eval_set
    from student_trainer.online.prequential import GroundTruth
    from student_trainer.onnx_predict import OnnxStudent

    examples, grades = brand_eval_set(world_dir, GroundTruth.from_world(world_dir))
    if not examples:
        return []
    rows = []
    for arm, version in versions.items():
        directory = registry.version_dir(registry_root, name, version)
        manifest = registry.load_manifest(registry_root, name, version)
        student = OnnxStudent(directory, manifest, threads=1)
        tokenizer = load_tokenizer(str(directory / "tokenizer"))
        probs = student.predict_probs(examples, tokenizer)
        metrics = grade_metrics([ex.query for ex in examples], probs, grades,
                                manifest["score_weights"])
        rows.append({"arm": arm, "version": version, **metrics})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["| arm | version | pairs | AUC (E vs rest) | NDCG@10 lin. (3/2/1/0) | macro-F1 |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['arm']} | v{r['version']} | {int(r['n'])} | {r['auc']:.3f} | "
              f"{r['ndcg_lin@10']:.3f} | {r['macro_f1']:.3f} |" for r in rows]
    return "\n".join(lines)
