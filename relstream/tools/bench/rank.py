"""The within-query ranking term's A/B: same data, seeds and budget, with and without it.

Arms (each trained on the same teacher labels from the same seeds, each evaluated on the
same ground-truth test pairs):
- `full/uniform`: the `full` MKD preset with the uniform batch shuffle (today's default);
- `full/grouped`: the same loss, batches built from chunks of `--group` rows of one
  query (the sampler alone, to see that it does not hurt);
- `full+rank/grouped`: `full` plus the within-query RankNet term on the served score.
TF-IDF (`relstream.core.metrics.tfidf_scores`) and, on the pairs it labelled, the
teacher are scored on the same pairs. Metrics: `auc` (E vs rest) and `ndcg_lin@10`.

Decision rule, fixed before the first run (issue 21 item 6); primary pairs: every
ground-truth test pair of the world (not only those the teacher labelled):
1. the grouped sampler "does not hurt" if mean(grouped − uniform) is ≥ −0.005 on both
   NDCG@10 and AUC;
2. recommend `full+rank` as the online default if mean(full+rank − full/uniform) NDCG@10
   is > 0 and positive on at least 2 of 3 seeds (a majority of seeds), and mean AUC
   change is ≥ −0.005.
Run: `relstream bench rank --data W --labels labels.jsonl[.gz]` (writes rank.json and
rank.md under `--out`).
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import statistics
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
ARMS = {"full/uniform": ("full", 1), "full/grouped": ("full", 0),
        "full+rank/grouped": ("full+rank", 0)}
"""Arm name → (loss preset, query_group; 0 = the `--group` size)."""


def read_labels(path: Path) -> list[Any]:
    """Teacher labels from a JSONL file, gzipped or not."""
    from relstream.core.schemas import TeacherLabel, decode_event

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
        events = [decode_event(line) for line in fh if line.strip()]
    return [e for e in events if isinstance(e, TeacherLabel)]


def _summary(rows: list[dict[str, Any]], arm: str, base: str, key: str) -> dict[str, Any]:
    by_seed = {r["seed"]: r for r in rows if r["arm"] == base}
    mine = [r for r in rows if r["arm"] == arm and r["seed"] in by_seed]
    deltas = [r[key] - by_seed[r["seed"]][key] for r in mine]
    if not deltas:
        return {}
    return {"mean": statistics.fmean(deltas),
            "sd": statistics.stdev(deltas) if len(deltas) > 1 else 0.0,
            "positive": sum(d > 0 for d in deltas), "n": len(deltas)}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from relstream.core.schemas import normalize_query
    from relstream.core.shop_files import load_splits
    from student_trainer.config import EncoderConfig, LossWeights, StudentConfig, TrainConfig
    from student_trainer.pipeline import load_dataset
    from student_trainer.runs import tfidf_metrics, train_and_evaluate

    labels = read_labels(args.labels)
    test = {normalize_query(q) for q in load_splits(args.data)["test"]}
    # Without the test queries' labels the dataset evaluates every ground-truth test pair;
    # train and validation (by query) are the same as with them.
    ds_all = load_dataset(args.data, [lb for lb in labels if normalize_query(lb.query)
                                      not in test])
    ds_cov = load_dataset(args.data, labels)
    base: dict[str, Any] = {"tfidf": {"all": tfidf_metrics(args.data, ds_all),
                      "covered": tfidf_metrics(args.data, ds_cov)},
            "teacher_covered": _teacher(ds_cov)}
    config = StudentConfig(kind=args.kind, pooling=args.pooling, encoder=EncoderConfig(
        num_layers=args.layers, max_length=args.max_length))
    rows: list[dict[str, Any]] = []
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        for arm in args.arms:
            preset, group = ARMS[arm]
            train = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, seed=seed,
                                lr=args.lr, head_lr=args.head_lr, threads=args.threads,
                                query_group=group or args.group)
            report = train_and_evaluate(args.data, [], config, LossWeights.preset(preset),
                                        train, dataset=ds_all, progress=False,
                                        also_evaluate={"covered": ds_cov})
            row = {"arm": arm, "seed": seed, "auc": report["test"]["auc"],
                   "ndcg_lin@10": report["test"]["ndcg_lin@10"],
                   "cov_auc": report["test_covered"]["auc"],
                   "cov_ndcg_lin@10": report["test_covered"]["ndcg_lin@10"],
                   "steps": report["steps"], "train_s": report["train_seconds"],
                   "val_soft_ce": report["validation"].get("val_soft_ce")}
            rows.append(row)
            log.info("%s", row)
            print(json.dumps(row), flush=True)
            (args.out / "rank.partial.json").write_text(json.dumps(rows, indent=1))
    result = {**summarise(rows, base),
              "dataset": {"all": ds_all.describe(), "covered": ds_cov.describe()},
              "config": {**{k: str(v) for k, v in vars(args).items()}}}
    write(result, args.out)
    return result


def summarise(rows: list[dict[str, Any]], baselines: dict[str, Any]) -> dict[str, Any]:
    """Per-arm means and spreads, and paired (same-seed) differences between arms."""
    keys = ("ndcg_lin@10", "auc", "cov_ndcg_lin@10", "cov_auc")
    arms = list(dict.fromkeys(r["arm"] for r in rows))
    per_arm = {}
    for arm in arms:
        mine = [r for r in rows if r["arm"] == arm]
        per_arm[arm] = {k: {"mean": statistics.fmean(r[k] for r in mine),
                            "sd": statistics.stdev(r[k] for r in mine) if len(mine) > 1 else 0.0}
                        for k in keys}
        per_arm[arm]["seeds"] = [r["seed"] for r in mine]  # type: ignore[assignment]
    paired = {f"{arm} - {ref}": {k: _summary(rows, arm, ref, k) for k in keys}
              for arm, ref in (("full/grouped", "full/uniform"),
                               ("full+rank/grouped", "full/uniform"),
                               ("full+rank/grouped", "full/grouped"))
              if arm in arms and ref in arms}
    return {"rows": rows, "baselines": baselines, "per_arm": per_arm, "paired_deltas": paired}


def markdown(result: dict[str, Any]) -> str:
    """Per-arm mean ± sd beside TF-IDF and the teacher, then the paired differences."""
    base = result["baselines"]
    lines = ["| model | seeds | NDCG@10 all | AUC all | NDCG@10 covered | AUC covered |",
             "|---|---|---|---|---|---|"]
    for arm, m in result["per_arm"].items():
        cells = " | ".join(f"{m[k]['mean']:.4f} ± {m[k]['sd']:.4f}" for k in
                           ("ndcg_lin@10", "auc", "cov_ndcg_lin@10", "cov_auc"))
        lines.append(f"| {arm} | {len(m['seeds'])} | {cells} |")
    tf = base["tfidf"]
    lines.append(f"| TF-IDF | - | {tf['all']['ndcg_lin@10']:.4f} | {tf['all']['auc']:.4f} | "
                 f"{tf['covered']['ndcg_lin@10']:.4f} | {tf['covered']['auc']:.4f} |")
    if base.get("teacher_covered"):
        t = base["teacher_covered"]
        lines.append(f"| teacher | - | - | - | {t['ndcg_lin@10']:.4f} | {t['auc']:.4f} |")
    lines += ["", "| paired difference | Δ NDCG@10 all | Δ AUC all | Δ NDCG@10 cov | Δ AUC cov |",
              "|---|---|---|---|---|"]
    for name, d in result["paired_deltas"].items():
        cells = " | ".join(f"{d[k]['mean']:+.4f} ± {d[k]['sd']:.4f} "
                           f"({d[k]['positive']}/{d[k]['n']} >0)"
                           for k in ("ndcg_lin@10", "auc", "cov_ndcg_lin@10", "cov_auc"))
        lines.append(f"| {name} | {cells} |")
    return "\n".join(lines) + "\n"


def write(result: dict[str, Any], out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "rank.json").write_text(json.dumps(result, indent=1))
    (out / "rank.md").write_text(markdown(result))
    print(markdown(result))


def _teacher(ds: Any) -> dict[str, float] | None:
    from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS
    from student_trainer.pipeline import evaluate_teacher

    metrics = evaluate_teacher(ds, dict(DEFAULT_SCORE_WEIGHTS))
    return {k: metrics[k] for k in ("auc", "ndcg_lin@10")} if metrics else None


def parser() -> argparse.ArgumentParser:
    return add_arguments(argparse.ArgumentParser(description=__doc__.split("\n")[0]))


def add_arguments(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The benchmark's options, on its own parser or on `relstream bench rank`."""
    p.add_argument("--data", type=Path, required=True, help="world or contract-files dir")
    p.add_argument("--labels", type=Path, required=True, help="teacher labels, JSONL[.gz]")
    p.add_argument("--out", type=Path, default=Path("bench-results"))
    p.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0, 1, 2])
    p.add_argument("--arms", type=lambda s: s.split(","), default=list(ARMS))
    p.add_argument("--kind", default="cross_encoder")
    p.add_argument("--pooling", choices=("mean", "cls"), default="mean")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--head-lr", type=float, default=1e-3)
    p.add_argument("--group", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    return p


def merge(paths: list[Path], out: Path) -> None:
    """One summary of several runs' rank.json files (e.g. arms run one after another)."""
    results = [json.loads(p.read_text()) for p in paths]
    rows = [r for res in results for r in res["rows"]]
    write({**summarise(rows, results[0]["baselines"]),
           "runs": [{"config": r.get("config"), "dataset": r.get("dataset")} for r in results]},
          out)


if __name__ == "__main__":
    import sys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if sys.argv[1:2] == ["merge"]:
        merge([Path(p) for p in sys.argv[3:]], Path(sys.argv[2]))
    else:
        run(parser().parse_args())
