"""Per-family evaluation (`relstream teacher eval --families 0,1,...`): the teacher against
TF-IDF on a simulated world of each shop family, raw and calibrated.

The shipped teacher was fine-tuned on family 0 only, so family 0 is its in-family score and
every other family is a shop it never saw: the baseline a leave-one-family-out teacher
(trained on the other families; needs a GPU session) has to beat. This is not LOFO training.
Each family's world is simulated once into `worlds_dir` (`relstream.tools.simulator`), a seeded
sample of its test pairs is judged once (`judgement_cache`), and TF-IDF gets its grades from
a one-feature logistic regression fitted on that family's own train split.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from teacher_worker.calibration import Calibration
from teacher_worker.errors import TeacherWorkerError
from teacher_worker.evaluate import EvalSet, report, tfidf_grade_probs
from teacher_worker.judgement_cache import cached_judgements

SCORES = ("auc", "macro_f1", "ece", "accuracy", "tail_auc", "tail_macro_f1", "tail_ece",
          "tail_accuracy")
"""The per-model scores of a fold (`tail_`: the long-tail queries among the sampled pairs)."""


@dataclass(frozen=True)
class FamilyEvalConfig:
    """Which worlds and how many pairs; the worlds match docs/simulator.md's TF-IDF table."""

    families: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
    in_family: int = 0
    """The family the teacher was fine-tuned on (world7 of the shipped card is family 0)."""
    seed: int = 0
    items: int = 3000
    searches: int = 6667
    days: float = 3.0
    limit: int = 200
    """Test pairs judged per family."""
    pair_seed: int = 0

    def __post_init__(self) -> None:
        if not self.families or len(set(self.families)) != len(self.families):
            raise TeacherWorkerError(f"families {self.families!r}: expected distinct ids")
        if self.limit < 10:
            raise TeacherWorkerError(f"limit {self.limit}: expected at least 10 pairs a family")

    def world_name(self, family: int) -> str:
        return (f"family{family}-seed{self.seed}-items{self.items}-searches{self.searches}"
                f"-days{self.days:g}")


def family_world(worlds_dir: Path, config: FamilyEvalConfig, family: int) -> Path:
    """The world of `family`, simulated into `worlds_dir` unless it is there already."""
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    out = worlds_dir / config.world_name(family)
    if not (out / "splits.json").is_file():
        simulate(SimConfig(out=out, seed=config.seed, family=family, items=config.items,
                           searches=config.searches, days=config.days))
    return out


def judgement_path(world: Path, model_dir: Path) -> Path:
    """Where the raw judgements of `model_dir`'s teacher on `world` are kept: in the world
    dir, keyed by the model dir's name (which carries the adapter's checksum) and path."""
    key = hashlib.sha256(str(Path(model_dir).resolve()).encode()).hexdigest()[:8]
    return Path(world) / "teacher-judgements" / f"{Path(model_dir).name}-{key}.jsonl"


def scores(row: Mapping[str, Any]) -> dict[str, float]:
    """The `SCORES` of one `evaluate.report` row (`auc_e_vs_rest` is called `auc` here);
    NaN where the row has none (no long-tail pairs, or AUC with one class only)."""
    source = {**row, "auc": row.get("auc_e_vs_rest"), "tail_auc": row.get("tail_auc_e_vs_rest")}
    return {k: float("nan") if source.get(k) is None else float(source[k]) for k in SCORES}


def _fold(backend: Any, calibration: Calibration | None, config: FamilyEvalConfig,
          world: Path, family: int, model_dir: Path, batch: int) -> dict[str, Any]:
    from relstream.tools.simulator.families import get_family

    es = EvalSet(world, "test", config.limit, config.pair_seed)
    rows, stats = cached_judgements(backend, es.pairs, es.catalog,
                                    judgement_path(world, model_dir), batch=batch)
    raw = [r.grade_probs for r in rows]
    tfidf = tfidf_grade_probs(world, es.pairs, es.catalog, es.labels, es.splits["train"],
                              config.pair_seed)
    fold: dict[str, Any] = {
        "heldout_family": family, "family_name": get_family(family).name,
        "in_family": family == config.in_family, "world": str(world),
        "pairs": len(es.pairs), "long_tail_pairs": sum(q in es.long_tail for q, _ in es.pairs),
        "teacher": scores(report("teacher", es.pairs, es.labels, raw, es.long_tail)),
    }
    if calibration is not None:
        calibrated = calibration.apply_many(raw)
        fold["teacher_calibrated"] = scores(report("teacher-calibrated", es.pairs, es.labels,
                                                   calibrated, es.long_tail))
    fold["tfidf"] = scores(report("tfidf", es.pairs, es.labels, tfidf, es.long_tail))
    fold["teacher_run"] = stats
    return fold


def mean_scores(folds: Sequence[Mapping[str, Any]], model: str) -> dict[str, float]:
    """The mean of each score of `model` over `folds` (those that have it)."""
    have = [f[model] for f in folds if model in f]
    return {k: sum(s[k] for s in have) / len(have) for k in SCORES} if have else {}


def evaluate_families(backend: Any, calibration: Calibration | None, config: FamilyEvalConfig,
                      worlds_dir: Path, model_dir: Path, *, batch: int = 256) -> dict[str, Any]:
    """Every family's fold, the in-family fold and the means over the unseen families."""
    folds = []
    for family in config.families:
        world = family_world(worlds_dir, config, family)
        folds.append(_fold(backend, calibration, config, world, family, model_dir, batch))
    unseen = [f for f in folds if not f["in_family"]]
    models = ["teacher", "teacher_calibrated", "tfidf"]
    return {
        "folds": folds,
        "in_family": next((f for f in folds if f["in_family"]), None),
        "mean_unseen": {m: mean_scores(unseen, m) for m in models if mean_scores(unseen, m)},
        "calibration": calibration.to_json() if calibration is not None else None,
        "config": {"families": list(config.families), "in_family": config.in_family,
                   "seed": config.seed, "items": config.items, "searches": config.searches,
                   "days": config.days, "test_pairs_per_family": config.limit,
                   "pair_seed": config.pair_seed},
    }


def _cell(scores_row: Mapping[str, float] | None, key: str) -> str:
    return "–" if not scores_row or key not in scores_row else f"{scores_row[key]:.3f}"


def _table(result: Mapping[str, Any], prefix: str, count: str) -> str:
    metrics = (("auc", "AUC"), ("macro_f1", "macro-F1"), ("ece", "ECE"))
    header = ["| family", count.replace("_", " ")] + [
        f"{name} {model}" for _, name in metrics
        for model in ("teacher raw", "teacher calibrated", "TF-IDF")]
    lines = [" | ".join(header) + " |", "|---" * len(header) + "|"]
    entries = [(f"{f['heldout_family']} {f['family_name']}"
                + (" (in-family)" if f["in_family"] else ""), f) for f in result["folds"]]
    if result.get("mean_unseen"):
        entries.append(("**mean, unseen families**", {count: "", **result["mean_unseen"]}))
    for label, f in entries:
        cells = [f"| {label}", str(f.get(count, ""))] + [
            _cell(f.get(model), prefix + key) for key, _ in metrics
            for model in ("teacher", "teacher_calibrated", "tfidf")]
        lines.append(" | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def markdown(result: Mapping[str, Any]) -> str:
    """Teacher (raw and calibrated) vs TF-IDF per family: all pairs, then the long tail."""
    return (_table(result, "", "pairs") + "\nLong-tail queries only:\n\n"
            + _table(result, "tail_", "long_tail_pairs"))
