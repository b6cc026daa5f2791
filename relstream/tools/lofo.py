"""Leave-one-family-out (`relstream teacher lofo`): for each held-out shop family, SFT a
teacher on the other families' worlds, then judge the held-out family and the in-family
world, each against TF-IDF.

A fold's teacher is trained into `<models>/fold<K>` and judged through the configured
backend with `family_eval` (same worlds, same seeded test pairs, same TF-IDF), so a fold
whose model already holds `sft_summary.json` is not trained again and judgements already
kept in a world's `teacher-judgements/` are not asked again: a stopped run resumes, and a
rerun of a finished one only rewrites the table. With `calibration_pairs`, each fold's
teacher also gets a calibration fitted on validation pairs of its *training* families
(`fit_calibration`, as the shipped one; saved as the fold model's `calibration.json`), and
its calibrated read-out is scored beside the raw one. The starting point (`base`) decides what
"never saw" means: starting from the shipped teacher, which saw family 0, family 0 must
not be held out (refused).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from relstream.tools.family_eval import (
    FamilyEvalConfig,
    evaluate_families,
    family_world,
    judgement_path,
)
from teacher_worker.calibration import CALIBRATION_FILE, Calibration, fit_calibration
from teacher_worker.errors import TeacherWorkerError

GOAL_AUC_MARGIN = 0.05
GOAL_MAX_ECE = 0.10
"""Issue 20's goal on a held-out family: AUC ≥ TF-IDF's + 0.05, macro-F1 above TF-IDF's,
ECE ≤ 0.10."""


@dataclass(frozen=True)
class LofoPlan:
    """Which families train, which are held out, and how each fold's SFT runs."""

    families: tuple[int, ...] = (0, 1, 2, 3, 4)
    heldout: tuple[int, ...] = (1, 2, 3)
    in_family: int = 0
    """A family every fold trains on, judged beside the held-out one (the in-family score)."""
    base_saw: tuple[int, ...] = (0,)
    """Families the starting model was already trained on: never held out."""
    sft: Mapping[str, Any] = field(default_factory=dict)
    """`SftConfig` fields (steps, batch, lr, time budget, ...)."""

    def __post_init__(self) -> None:
        if not set(self.heldout) <= set(self.families):
            raise TeacherWorkerError(f"held-out {self.heldout}: not all among {self.families}")
        if self.in_family in self.heldout or self.in_family not in self.families:
            raise TeacherWorkerError(f"in-family {self.in_family}: must be a training family")
        if seen := set(self.heldout) & set(self.base_saw):
            raise TeacherWorkerError(f"held-out {sorted(seen)}: the starting model was "
                                     "trained on it, so the fold would not be unseen")

    def training(self, heldout: int) -> list[int]:
        return [f for f in self.families if f != heldout]


def train_fold(plan: LofoPlan, heldout: int, worlds: Mapping[int, Path], base: Path,
               out: Path, device: str) -> dict[str, Any]:
    """SFT on every training family of the fold; returns `sft_summary.json`'s content.
    A finished fold (its summary there) is not trained again."""
    summary_file = out / "sft_summary.json"
    if summary_file.is_file():
        return dict(json.loads(summary_file.read_text()))
    from transformers import AutoTokenizer

    from teacher_worker.sft import SftConfig, train_sft
    from teacher_worker.sft_data import mixture_examples

    config = SftConfig(**plan.sft)
    tokenizer = AutoTokenizer.from_pretrained(base)
    examples = mixture_examples(tokenizer, [worlds[f] for f in plan.training(heldout)],
                                max_length=config.max_length,
                                decision_weight=config.decision_weight)
    return train_sft(base, examples, out, config, device=device)


def fit_fold_calibration(backend: Any, worlds: Mapping[int, Path], training: Sequence[int],
                         pairs: int, model_dir: Path, *, seed: int = 0,
                         batch: int = 256) -> Calibration:
    """A calibration for the fold's teacher from `pairs` validation pairs, split evenly over
    its training families (never the held-out one), saved in `model_dir`."""
    import dataclasses

    from teacher_worker.evaluate import EvalSet
    from teacher_worker.judgement_cache import cached_judgements

    probs: list[Any] = []
    truth: list[Any] = []
    for family in training:
        es = EvalSet(worlds[family], "validation", max(pairs // len(training), 1), seed)
        rows, _ = cached_judgements(backend, es.pairs, es.catalog,
                                    judgement_path(worlds[family], model_dir), batch=batch)
        probs += [r.grade_probs for r in rows]
        truth += [es.labels[p] for p in es.pairs]
    calibration = fit_calibration(probs, truth)
    calibration = dataclasses.replace(calibration, fit={
        **calibration.fit, "split": "validation", "families": list(training), "seed": seed})
    calibration.save(model_dir / CALIBRATION_FILE)
    return calibration


def _goal(teacher: Mapping[str, float], tfidf: Mapping[str, float]) -> dict[str, Any]:
    goal: dict[str, Any] = {"auc_vs_tfidf": teacher["auc"] - tfidf["auc"],
                            "macro_f1_vs_tfidf": teacher["macro_f1"] - tfidf["macro_f1"],
                            "ece": teacher["ece"]}
    goal["met"] = bool(goal["auc_vs_tfidf"] >= GOAL_AUC_MARGIN
                       and goal["macro_f1_vs_tfidf"] > 0 and teacher["ece"] <= GOAL_MAX_ECE)
    return goal


def fold_row(heldout: int, judged: Mapping[str, Any], sft: Mapping[str, Any],
             training: Sequence[int], baseline: Mapping[int, Any]) -> dict[str, Any]:
    """One fold of the results file: held-out and in-family scores, the goal (on the raw
    read-out, and on the calibrated one where there is one), the SFT."""
    held = next(f for f in judged["folds"] if f["heldout_family"] == heldout)
    inside = judged["in_family"]
    row = {
        "heldout_family": heldout, "family_name": held["family_name"],
        "training_families": list(training), "pairs": held["pairs"],
        "long_tail_pairs": held["long_tail_pairs"],
        "teacher": held["teacher"], "tfidf": held["tfidf"],
        "shipped_teacher": baseline.get(heldout),
        "in_family": {"family": inside["heldout_family"], "teacher": inside["teacher"],
                      "tfidf": inside["tfidf"]},
        "goal": _goal(held["teacher"], held["tfidf"]),
        "sft": {k: sft.get(k) for k in ("steps", "examples", "seconds", "device", "base")},
        "teacher_run": held.get("teacher_run"),
    }
    if "teacher_calibrated" in held:
        row["teacher_calibrated"] = held["teacher_calibrated"]
        row["in_family"]["teacher_calibrated"] = inside["teacher_calibrated"]
        row["goal_calibrated"] = _goal(held["teacher_calibrated"], held["tfidf"])
    return row


def shipped_baseline(path: Path | None) -> dict[int, Any]:
    """The shipped teacher's raw scores per family from a `teacher eval --families` file
    (the same worlds and pairs), to put beside each fold; empty without one."""
    if path is None or not path.is_file():
        return {}
    data = json.loads(path.read_text())
    return {int(f["heldout_family"]): f["teacher"] for f in data.get("folds", [])}


def run_lofo(settings: Any, plan: LofoPlan, eval_config: FamilyEvalConfig, worlds_dir: Path,
             models_dir: Path, base: Path, *, device: str = "cpu", batch: int = 256,
             baseline: Path | None = None, calibration_pairs: int = 0) -> dict[str, Any]:
    """Every fold: train (or find) its teacher, fit its calibration (`calibration_pairs`
    > 0), judge its held-out and in-family worlds."""
    from teacher_worker.backends import load_backend
    from teacher_worker.vllm_server import served_for_job

    worlds = {f: family_world(worlds_dir, eval_config, f) for f in plan.families}
    shipped = shipped_baseline(baseline)
    folds = []
    for heldout in plan.heldout:
        out = models_dir / f"fold{heldout}"
        print(f"fold {heldout}: SFT on families {plan.training(heldout)} -> {out}", flush=True)
        sft = train_fold(plan, heldout, worlds, base, out, device)
        fold_settings = settings.model_copy(update={"teacher_model_dir": out})
        config = FamilyEvalConfig(**{**asdict(eval_config),
                                     "families": (heldout, plan.in_family),
                                     "in_family": plan.in_family})
        print(f"fold {heldout}: judging families {heldout} and {plan.in_family}", flush=True)
        with served_for_job(fold_settings):
            backend = load_backend(fold_settings)
            calibration = None
            if calibration_pairs:
                calibration = fit_fold_calibration(
                    backend, worlds, plan.training(heldout), calibration_pairs, out,
                    seed=eval_config.pair_seed, batch=batch)
            judged = evaluate_families(backend, calibration, config, worlds_dir, out,
                                       batch=batch)
        folds.append(fold_row(heldout, judged, sft, plan.training(heldout), shipped))
    return {"folds": folds, "mean": _means(folds),
            "plan": {"families": list(plan.families), "heldout": list(plan.heldout),
                     "in_family": plan.in_family, "base": str(base), "sft": dict(plan.sft),
                     "calibration_pairs": calibration_pairs,
                     "worlds": asdict(eval_config) | {"families": list(plan.families)}}}


def _means(folds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    def mean(values: list[float]) -> float:
        return sum(values) / len(values) if values else float("nan")

    out: dict[str, Any] = {}
    for model in ("teacher", "teacher_calibrated", "tfidf", "shipped_teacher"):
        have = [f[model] for f in folds if f.get(model)]
        if have:
            out[model] = {k: mean([s[k] for s in have]) for k in have[0]}
    out["goals_met"] = sum(f["goal"]["met"] for f in folds)
    out["goals_met_calibrated"] = sum(f.get("goal_calibrated", {}).get("met", False)
                                      for f in folds)
    return out


def markdown(result: Mapping[str, Any]) -> str:
    """Per held-out family, a row per model (the fold's teacher raw and calibrated, the
    shipped teacher, TF-IDF) with AUC, macro-F1, ECE and long-tail AUC and whether the goal
    is met; the fold's in-family scores under it; then the means over folds."""
    lines = ["| held-out family | model | AUC | macro-F1 | ECE | long-tail AUC | goal met |",
             "|---|---|---|---|---|---|---|"]

    def cell(scores: Mapping[str, float] | None, key: str) -> str:
        return "–" if not scores or key not in scores else f"{scores[key]:.3f}"

    def row(label: str, model: str, scores: Mapping[str, float] | None, goal: str = "") -> None:
        lines.append(f"| {label} | {model} | {cell(scores, 'auc')} | "
                     f"{cell(scores, 'macro_f1')} | {cell(scores, 'ece')} | "
                     f"{cell(scores, 'tail_auc')} | {goal} |")

    def met(goal: Mapping[str, Any] | None) -> str:
        return "" if goal is None else ("yes" if goal["met"] else "no")

    batch = result["plan"]["sft"].get("batch_size", 0)
    for f in result["folds"]:
        steps = f["sft"]["steps"] or 0
        label = f"{f['heldout_family']} {f['family_name']} ({f['pairs']} pairs)"
        row(label, f"fold teacher, raw (SFT {steps} steps, {steps * batch} examples)",
            f["teacher"], met(f["goal"]))
        if "teacher_calibrated" in f:
            row("", "fold teacher, calibrated", f["teacher_calibrated"],
                met(f.get("goal_calibrated")))
        row("", "shipped teacher, raw", f.get("shipped_teacher"))
        row("", "TF-IDF", f["tfidf"])
        inside = f["in_family"]
        row("", f"in-family (family {inside['family']}): fold teacher, raw", inside["teacher"])
        row("", f"in-family (family {inside['family']}): TF-IDF", inside["tfidf"])
    m, n = result["mean"], len(result["folds"])
    row(f"**mean of {n}**", "fold teacher, raw", m.get("teacher"), f"{m['goals_met']} of {n}")
    if "teacher_calibrated" in m:
        row("", "fold teacher, calibrated", m["teacher_calibrated"],
            f"{m['goals_met_calibrated']} of {n}")
    row("", "shipped teacher, raw", m.get("shipped_teacher"))
    row("", "TF-IDF", m.get("tfidf"))
    return "\n".join(lines) + "\n"
