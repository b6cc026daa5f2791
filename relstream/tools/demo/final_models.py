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
    from relstream.core import registry
    config = json.loads(ab_config.read_text())
    out = {arm["name"]: str(arm["version"]) for arm in config["arms"]
           if arm["version"] != "latest"}
    latest = registry.latest_version(registry_root, name)
    if latest is not None:
        out["continuous"] = latest
    return out


PRELAUNCH_PAIRS = 2000
"""Ground-truth pairs of the pre-launch test queries scored (whole queries, by hash)."""


def prelaunch_eval_set(world_dir: Path, truth: Any, limit: int = PRELAUNCH_PAIRS
                       ) -> tuple[list[Any], list[str]]:
    """Ground-truth pairs of the test split's queries that are not the new brand's (what
    version 1 was trained to know), whole queries in a fixed hash order up to `limit`."""
    import hashlib

    from relstream.core.shop_files import load_catalog, load_labels, load_splits
    from student_trainer.pipeline import eval_example

    catalog = load_catalog(world_dir)
    test = {q for q in load_splits(world_dir)["test"] if not truth.is_new_brand(q)}
    by_query: dict[str, list[tuple[str, str]]] = {}
    for (q, i), g in sorted(load_labels(world_dir).items()):
        if q in test and i in catalog:
            by_query.setdefault(q, []).append((i, g))
    pairs: list[tuple[str, str, str]] = []
    for q in sorted(by_query, key=lambda q: hashlib.sha256(q.encode()).hexdigest()):
        if len(pairs) >= limit:
            break
        pairs += [(q, i, g) for i, g in by_query[q]]
    return [eval_example(q, catalog[i]) for q, i, _ in pairs], [g for _, _, g in pairs]


def score_versions(world_dir: Path, registry_root: Path, name: str,
                   versions: dict[str, str], which: str = "brand") -> list[dict[str, Any]]:
    """One row per arm: version, AUC (E vs rest), `ndcg_lin@10` (linear gains 3/2/1/0, not
    the A/B report's ESCI-gain `ndcg@10`), macro-F1, pairs, on every ground-truth pair of
    the new brand's queries (`which="brand"`, from the world's scenario) or on the
    pre-launch test pairs (`which="prelaunch"`, see `prelaunch_eval_set`)."""
    from relstream.core import registry
    from relstream.tools.compare_versions import brand_eval_set
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import grade_metrics
    from student_trainer.online.prequential import GroundTruth
    from student_trainer.onnx_predict import OnnxStudent

    truth = GroundTruth.from_world(world_dir)
    examples, grades = (brand_eval_set(world_dir, truth) if which == "brand"
                        else prelaunch_eval_set(world_dir, truth))
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
                                manifest.grade_weights())
        rows.append({"arm": arm, "version": version, **metrics})
    return rows


def render(rows: list[dict[str, Any]]) -> str:
    lines = ["| arm | version | pairs | AUC (E vs rest) | NDCG@10 lin. (3/2/1/0) | macro-F1 |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['arm']} | v{r['version']} | {int(r['n'])} | {r['auc']:.3f} | "
              f"{r['ndcg_lin@10']:.3f} | {r['macro_f1']:.3f} |" for r in rows]
    return "\n".join(lines)
