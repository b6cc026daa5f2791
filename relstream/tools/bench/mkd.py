"""`relstream bench mkd`: the MKD ablation on one set of teacher labels, both students.

Each student is trained with the loss presets hard (CE on the teacher's argmax only),
score (+ T²·KL score distillation), cot (hard + CoT terms: dimension heads and attention
or embedding alignment) and full (all), from the same seed, data and budget, and
evaluated on the same ground-truth test pairs, overall and on the long tail. The
teacher's row (its own grade distributions on those pairs) is on top when the teacher
labelled them; `auc_vs_teacher` is the student's AUC over the teacher's.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

log = logging.getLogger(__name__)
METRICS = ("auc", "ndcg_lin@10", "macro_f1", "lt_auc", "lt_ndcg_lin@10", "lt_macro_f1")


def _row(model: str, losses: str, metrics: dict[str, float], teacher_auc: float | None,
         extra: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "losses": losses}
    row.update({m: metrics.get(m, float("nan")) for m in METRICS})
    row["auc_vs_teacher"] = (metrics["auc"] / teacher_auc) if teacher_auc else float("nan")
    row.update(extra)
    return row


def run(args: argparse.Namespace) -> int:
    from relstream.core.reporting import save_results
    from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS
    from relstream.core.shop_files import LONG_TAIL_MAX_SEARCHES, find
    from student_trainer.config import LossWeights, student_config_from, train_config_from
    from student_trainer.pipeline import evaluate_teacher, load_dataset
    from student_trainer.runs import train_and_evaluate

    train_config = train_config_from(args)
    splits_source = ("splits from splits.json" if find(args.data, "splits.json") else
                     "no splits.json: splits derived by query hash, long tail = test queries "
                     f"searched <= {LONG_TAIL_MAX_SEARCHES} times")
    ds = load_dataset(args.data, args.labels, max_train=args.max_train, seed=args.seed)
    teachers = ", ".join(ds.teacher_models)
    simulated = any(t.startswith("simulator-cot") for t in ds.teacher_models)
    rows: list[dict[str, Any]] = []
    teacher = evaluate_teacher(ds, dict(DEFAULT_SCORE_WEIGHTS))
    teacher_auc = teacher["auc"] if teacher else None
    if teacher:
        rows.append(_row(f"teacher ({teachers})", "-", teacher, teacher_auc,
                         {"train_s": float("nan"), "steps": float("nan")}))
    reports = []
    for kind in args.kinds.split(","):
        config = student_config_from(argparse.Namespace(**{**vars(args), "kind": kind}))
        for preset in args.presets.split(","):
            weights = LossWeights.preset(preset)
            log.info("bench mkd: %s with %s losses %s", kind, preset, weights.to_dict())
            report = train_and_evaluate(args.data, [], config, weights, train_config,
                                        dataset=ds, progress=True)
            reports.append({"preset": preset, **report})
            rows.append(_row(kind, preset, report["test"], teacher_auc,
                             {"train_s": report["train_seconds"], "steps": report["steps"]}))
            print(json.dumps(rows[-1], default=str), flush=True)
            # A long run that is cut short still leaves the rows it finished.
            args.out.mkdir(parents=True, exist_ok=True)
            (args.out / "mkd.partial.json").write_text(json.dumps(rows, indent=1, default=str))
    notes = (
        f"Teacher labels: {teachers} ({len(ds.train)} train / {len(ds.validation)} validation "
        f"pairs); evaluated on {len(ds.eval_pairs)} ground-truth test pairs "
        f"(long tail: the split's test_long_tail queries; {splits_source}). "
        f"Students: MiniLM first {args.layers} layers, max_length {args.max_length}, "
        f"{args.epochs} epoch(s), batch {args.batch_size}, seed {args.seed}. "
        "Losses: hard = CE(teacher argmax); "
        "score = 0.5·CE + 0.5·T²·KL (T=2); cot = CE + 0.5·dimension heads + 0.5·attention "
        "(cross-encoder) or 0.5·CoT-embedding (two-tower) alignment; full = score + cot."
    )
    if simulated:
        notes += (" NOTE: these labels are the simulator's ideal CoT annotations "
                  "('simulator-cot'), not the real teacher's.")
    if not teacher:
        notes += " The teacher labelled none of the test pairs, so it has no row."
    save_results("mkd", rows, args.out, command="relstream bench mkd", notes=notes,
                 extra={"dataset": ds.describe(), "reports": reports})
    return 0
