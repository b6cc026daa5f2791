"""`relstream bench mkd`: the MKD ablation on one set of teacher labels, both students.

Each student is trained with the loss presets hard (CE on the teacher's argmax only),
score (+ T²·KL score distillation), cot (hard + CoT terms: dimension heads and attention
or embedding alignment) and full (all), from the same seed, data and budget, and
evaluated on the same ground-truth test pairs, overall and on the long tail. The
teacher's row (its own grade distributions on those pairs) is on top when the teacher
labelled them; `auc_vs_teacher` is the student's AUC over the teacher's. A preset written
`NAME@searched` takes the weights `relstream bench mkd-search` chose on validation
(`--searched FILE`) instead of the fixed defaults.
"""

from __future__ import annotations

import argparse
import json
import logging
from typing import Any

from relstream.tools.bench.mkd_search import SEARCHED, load_searched, weights_for

log = logging.getLogger(__name__)
LOSSES_NOTE = ("hard = CE(teacher argmax); score = 0.5·CE + 0.5·T²·KL (T=2); cot = CE + "
               "0.5·dimension heads + 0.5·attention (cross-encoder) or 0.5·CoT-embedding "
               "(two-tower) alignment; full = score + cot")
"""What the loss presets are, for the notes of both result files."""
METRICS = ("auc", "ndcg_lin@10", "macro_f1", "lt_auc", "lt_ndcg_lin@10", "lt_macro_f1")


def _row(model: str, losses: str, metrics: dict[str, float], teacher_auc: float | None,
         extra: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {"model": model, "losses": losses}
    row.update({m: metrics.get(m, float("nan")) for m in METRICS})
    row["auc_vs_teacher"] = (metrics["auc"] / teacher_auc) if teacher_auc else float("nan")
    row.update(extra)
    return row


def run(args: argparse.Namespace) -> int:
    if getattr(args, "seeds", None):
        return run_seeds(args)
    from relstream.core.reporting import save_results
    from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS
    from relstream.core.shop_files import LONG_TAIL_MAX_SEARCHES, find
    from student_trainer.config import student_config_from, train_config_from
    from student_trainer.pipeline import evaluate_teacher, load_dataset
    from student_trainer.runs import train_and_evaluate

    searched = load_searched(args.searched) if getattr(args, "searched", None) else None
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
            weights = weights_for(preset, kind, searched)
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
        f"Losses: {LOSSES_NOTE}."
    )
    if simulated:
        notes += (" NOTE: these labels are the simulator's ideal CoT annotations "
                  "('simulator-cot'), not the real teacher's.")
    if not teacher:
        notes += " The teacher labelled none of the test pairs, so it has no row."
    save_results("mkd", rows, args.out, command="relstream bench mkd", notes=notes,
                 extra={"dataset": ds.describe(), "reports": reports})
    return 0


def run_seeds(args: argparse.Namespace) -> int:
    """`--seeds 0-4`: every student × preset once per seed on the same labels, then per
    cell the mean and a 95 % t-interval over seeds, overall and on the long tail
    (`mkd-ablation.json`). The data (all training labels unless `--max-train`) is the
    same for every seed; the seed sets the initialisation and the batch order."""
    import math

    from relstream.core.reporting import mean_ci, parse_seeds, save_results
    from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS
    from student_trainer.config import student_config_from, train_config_from
    from student_trainer.pipeline import evaluate_teacher, load_dataset
    from student_trainer.runs import train_and_evaluate

    seeds = parse_seeds(args.seeds)
    searched = load_searched(args.searched) if getattr(args, "searched", None) else None
    ds = load_dataset(args.data, args.labels, max_train=args.max_train, seed=seeds[0])
    teacher = evaluate_teacher(ds, dict(DEFAULT_SCORE_WEIGHTS))
    kinds, presets = args.kinds.split(","), args.presets.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    partial = args.out / "mkd-ablation.partial.json"
    per_seed: list[dict[str, Any]] = []
    if getattr(args, "resume", False) and partial.exists():
        # Cells of a run that was cut short, kept as they were (same labels and settings:
        # the caller's responsibility); only the missing ones are trained.
        per_seed = [r for r in json.loads(partial.read_text()) if r["seed"] in seeds]
        log.info("bench mkd: resuming with %d finished cells from %s", len(per_seed), partial)
    done = {(r["seed"], r["student"], r["losses"]) for r in per_seed}
    for seed in seeds:
        train_config = train_config_from(argparse.Namespace(**{**vars(args), "seed": seed}))
        for kind in kinds:
            config = student_config_from(argparse.Namespace(**{**vars(args), "kind": kind}))
            for preset in presets:
                if (seed, kind, preset) in done:
                    continue
                log.info("bench mkd: seed %d, %s with %s losses", seed, kind, preset)
                report = train_and_evaluate(args.data, [], config,
                                            weights_for(preset, kind, searched),
                                            train_config, dataset=ds, progress=True)
                per_seed.append({"seed": seed, "student": kind, "losses": preset,
                                 **{m: report["test"].get(m, math.nan) for m in
                                    ("auc", "lt_auc", "ndcg_lin@10", "macro_f1", "lt_macro_f1")},
                                 "steps": report["steps"],
                                 "train_s": report["train_seconds"]})
                print(json.dumps(per_seed[-1]), flush=True)
                # A long run that is cut short still leaves the cells it finished.
                partial.write_text(json.dumps(per_seed, indent=1))
    rows: list[dict[str, Any]] = []
    if teacher:
        rows.append({"student": f"teacher ({', '.join(ds.teacher_models)})", "losses": "-",
                     "seeds": 1, "auc_mean": teacher["auc"], "auc_ci": [math.nan, math.nan],
                     "tail_auc_mean": teacher.get("lt_auc", math.nan),
                     "tail_auc_ci": [math.nan, math.nan]})
    for kind in kinds:
        for preset in presets:
            cell = [r for r in per_seed if r["student"] == kind and r["losses"] == preset]
            auc, tail = mean_ci([r["auc"] for r in cell]), mean_ci([r["lt_auc"] for r in cell])
            f1 = mean_ci([r["macro_f1"] for r in cell])
            rows.append({"student": kind, "losses": preset, "seeds": len(cell),
                         "auc_mean": auc["mean"], "auc_ci": [auc["ci_low"], auc["ci_high"]],
                         "tail_auc_mean": tail["mean"],
                         "tail_auc_ci": [tail["ci_low"], tail["ci_high"]],
                         "macro_f1_mean": f1["mean"]})
    paired = paired_differences(per_seed, kinds, presets)
    notes = (
        f"{len(ds.train)} training / {len(ds.validation)} validation teacher labels "
        f"({', '.join(ds.teacher_models)}); every cell scored on the same "
        f"{len(ds.eval_pairs)} ground-truth test pairs (tail: the test_long_tail queries). "
        f"Seeds {args.seeds}: mean and 95 % t-interval over seeds. Students: MiniLM first "
        f"{args.layers} layers, max_length {args.max_length}, {args.epochs} epoch(s), batch "
        f"{args.batch_size}, lr {args.lr}; loss weights are the presets' fixed defaults "
        f"({LOSSES_NOTE}), chosen before this run; best step by validation loss only."
    )
    if searched:
        picked = {k: {p: w.to_dict() for p, w in v.items()} for k, v in searched.items()}
        notes += (f" Presets NAME{SEARCHED} (e.g. full{SEARCHED}) use the weights "
                  f"`relstream bench mkd-search` chose on validation ({args.searched}): "
                  f"{json.dumps(picked)}.")
    save_results("mkd-ablation", rows, args.out,
                 command=f"relstream bench mkd --seeds {args.seeds}", notes=notes,
                 extra={"n_train_labels": len(ds.train), "dataset": ds.describe(),
                        "paired_vs_hard": paired, "per_seed": per_seed,
                        "teacher": teacher})
    return 0


def paired_differences(per_seed: list[dict[str, Any]], kinds: list[str], presets: list[str],
                       base: str = "hard") -> list[dict[str, Any]]:
    """Per student: each preset minus `base` (and `full` minus `cot`, the score term) on the
    same seed, AUC and tail AUC, as a mean with a 95 % t-interval over seeds: "better" when
    the interval is above 0, "worse" below (the ablation's verdicts, docs/students.md)."""
    from relstream.core.reporting import mean_ci

    def by_seed(kind: str, preset: str) -> dict[int, dict[str, Any]]:
        return {r["seed"]: r for r in per_seed
                if r["student"] == kind and r["losses"] == preset}

    pairs = [(preset, base) for preset in presets if preset != base and base in presets]
    if "full" in presets and "cot" in presets:
        pairs.append(("full", "cot"))  # the score term, on top of the CoT terms
    # searched weights against the fixed defaults of the same preset
    pairs += [(p, p.removesuffix(SEARCHED)) for p in presets
              if p.endswith(SEARCHED) and p.removesuffix(SEARCHED) in presets]
    out: list[dict[str, Any]] = []
    for kind in kinds:
        for preset, other in pairs:
            baseline, runs = by_seed(kind, other), by_seed(kind, preset)
            seeds = sorted(set(runs) & set(baseline))
            row: dict[str, Any] = {"student": kind, "losses": f"{preset} - {other}",
                                   "seeds": len(seeds)}
            for metric in ("auc", "lt_auc"):
                ci = mean_ci([runs[s][metric] - baseline[s][metric] for s in seeds])
                verdict = ("better" if ci["ci_low"] > 0 else
                           "worse" if ci["ci_high"] < 0 else "no difference detected")
                row[metric] = {"diff": ci["mean"], "ci": [ci["ci_low"], ci["ci_high"]],
                               "verdict": verdict}
            out.append(row)
    return out
