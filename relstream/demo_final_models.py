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

from streams.schemas import normalize_query


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


def _brand_examples(world_dir: Path, new_brand_queries: list[str]
                    ) -> tuple[list[tuple[str, str, str]], list[Any]]:
    """(query, item_id, grade) of every ground-truth pair of the brand's queries, and the
    examples to score them (teacher fields are placeholders: scored, never trained on)."""
    from streams.item_text import item_text
    from streams.simulator.loaders import load_catalog, load_labels
    from student_trainer.config import DIMENSIONS, IGNORE
    from student_trainer.data import Example

    catalog = load_catalog(world_dir)
    brand = {normalize_query(q) for q in new_brand_queries}
    pairs: list[tuple[str, str, str]] = [
        (q, i, g) for (q, i), g in sorted(load_labels(world_dir).items())
        if normalize_query(q) in brand and i in catalog]
    examples = [Example(q, i, item_text(catalog[i]), (0.25, 0.25, 0.25, 0.25),
                        (IGNORE,) * len(DIMENSIONS), (), "none", "none") for q, i, _ in pairs]
    return pairs, examples


def score_versions(world_dir: Path, new_brand_queries: list[str], registry_root: Path,
                   name: str, versions: dict[str, str]) -> list[dict[str, Any]]:
    """One row per arm: version, AUC (E vs rest), NDCG@10 (gains 3/2/1/0), macro-F1, pairs."""
    from student_trainer import registry
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import grade_metrics
    from student_trainer.onnx_predict import OnnxStudent

    pairs, examples = _brand_examples(world_dir, new_brand_queries)
    if not pairs:
        return []
    rows = []
    for arm, version in versions.items():
        directory = registry.version_dir(registry_root, name, version)
        manifest = registry.load_manifest(registry_root, name, version)
        student = OnnxStudent(directory, manifest, threads=1)
        tokenizer = load_tokenizer(str(directory / "tokenizer"))
        probs = student.predict_probs(examples, tokenizer)
        metrics = grade_metrics([q for q, _, _ in pairs], probs, [g for _, _, g in pairs],
                                manifest["score_weights"])
        rows.append({"arm": arm, "version": version, **metrics})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["| arm | version | pairs | AUC (E vs rest) | NDCG@10 | macro-F1 |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['arm']} | v{r['version']} | {int(r['n'])} | {r['auc']:.3f} | "
              f"{r['ndcg@10']:.3f} | {r['macro_f1']:.3f} |" for r in rows]
    return "\n".join(lines)
