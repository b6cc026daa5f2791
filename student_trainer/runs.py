"""The functions behind `relstream train offline|eval|export`: one call per command."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from relstream.core.schemas import TeacherLabel
from student_trainer.config import LossWeights, StudentConfig, TrainConfig
from student_trainer.pipeline import Dataset, evaluate_student, evaluate_teacher, load_dataset


def train_and_evaluate(
    data_dir: Path, labels: Path | list[TeacherLabel], student_config: StudentConfig,
    weights: LossWeights, train_config: TrainConfig, *, checkpoint_dir: Path | None = None,
    max_train: int = 0, dataset: Dataset | None = None, progress: bool = True,
    also_evaluate: Mapping[str, Dataset] | None = None,
) -> dict[str, Any]:
    """Train one student on the teacher labels and evaluate it (and the teacher) on test.

    `also_evaluate` names more datasets whose evaluation pairs the trained student is
    scored on too (e.g. every test pair, not only those the teacher labelled); their
    metrics land under `test_<name>`.
    """
    import torch

    from student_trainer.encoders import load_tokenizer
    from student_trainer.factory import build_student
    from student_trainer.train_offline import train_offline

    ds = dataset or load_dataset(data_dir, labels, max_train=max_train, seed=train_config.seed)
    tokenizer = load_tokenizer(student_config.encoder.weights_dir or None)
    torch.manual_seed(train_config.seed)
    student = build_student(student_config, tokenizer=tokenizer)
    started = time.monotonic()
    result = train_offline(
        student, tokenizer, ds.train, ds.validation, weights, train_config,
        checkpoint_dir=checkpoint_dir, progress=progress,
        extra={"data": str(data_dir), "teacher": ds.teacher_models,
               "training_window": {"pairs": len(ds.train)}},
    )
    seconds = time.monotonic() - started
    extra_tests = {f"test_{name}": evaluate_student(result.student, tokenizer, other)
                   for name, other in (also_evaluate or {}).items()}
    return {
        "kind": student_config.kind,
        "checkpoint": str(result.checkpoint) if result.checkpoint else None,
        "steps": result.steps,
        "train_seconds": round(seconds, 1),
        "validation": result.best_metrics,
        "test": evaluate_student(result.student, tokenizer, ds),
        "teacher": evaluate_teacher(ds, student_config.score_weights),
        "tfidf": tfidf_metrics(data_dir, ds),
        "dataset": ds.describe(),
        "loss_weights": weights.to_dict(),
        **extra_tests,
    }


def tfidf_metrics(data_dir: Path, ds: Dataset) -> dict[str, float]:
    """TF-IDF cosine (query vs item text) on the dataset's evaluation pairs: the baseline
    a learned student has to beat, with the students' metric names (auc, ndcg_lin@10 and
    their long-tail `lt_` twins)."""
    from relstream.core.metrics import tfidf_scores
    from student_trainer.data import load_catalog
    from student_trainer.evaluate import binary_auc, long_tail_index, ndcg_at_k

    scores = tfidf_scores(ds.eval_pairs, load_catalog(Path(data_dir) / "catalog.jsonl")).tolist()
    grades = [ds.truth[p] for p in ds.eval_pairs]
    queries = [q for q, _ in ds.eval_pairs]
    idx = long_tail_index(ds.eval_pairs, ds.long_tail)  # the students' long tail, same rule
    out = {"auc": binary_auc(scores, grades), "ndcg_lin@10": ndcg_at_k(queries, scores, grades)}
    if idx:
        out["lt_auc"] = binary_auc([scores[i] for i in idx], [grades[i] for i in idx])
        out["lt_ndcg_lin@10"] = ndcg_at_k([queries[i] for i in idx], [scores[i] for i in idx],
                                          [grades[i] for i in idx])
    return out


def evaluate_checkpoint(checkpoint: Path, data_dir: Path, labels: Path | None,
                        split: str = "test") -> dict[str, Any]:
    from student_trainer.encoders import load_tokenizer
    from student_trainer.factory import load_checkpoint

    student, _ = load_checkpoint(str(checkpoint))
    ds = load_dataset(data_dir, labels if labels else [], split=split)
    return {"kind": student.kind, "split": split, "pairs": len(ds.eval_pairs),
            "student": evaluate_student(student, load_tokenizer(), ds),
            "teacher": evaluate_teacher(ds, student.config.score_weights),
            "tfidf": tfidf_metrics(data_dir, ds)}


def evaluate_published(registry: Path, name: str, version: str | None, data_dir: Path,
                       labels: Path | None, split: str = "test") -> dict[str, Any]:
    """Score a published version exactly as serving would (its ONNX graphs through
    onnxruntime, its manifest's score weights) on a data dir's split, beside TF-IDF."""
    from relstream.core import registry as reg
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import evaluate_pairs
    from student_trainer.onnx_predict import OnnxStudent

    manifest = reg.load_manifest(registry, name, version)
    manifest.verify_files()
    ds = load_dataset(data_dir, labels if labels else [], split=split)
    weights = manifest.grade_weights()
    probs = OnnxStudent(manifest.directory, manifest).predict_probs(ds.eval_examples,
                                                                    load_tokenizer())
    return {"model": name, "version": manifest.version, "kind": manifest.kind,
            "split": split, "pairs": len(ds.eval_pairs),
            "student": evaluate_pairs(ds.eval_pairs, probs, ds.truth, weights, ds.long_tail),
            "teacher": evaluate_teacher(ds, weights),
            "tfidf": tfidf_metrics(data_dir, ds)}


def export_checkpoint(
    checkpoint: Path, out: Path, *, quantize: bool = False, data: Path | None = None,
    labels: Path | None = None, registry: Path | None = None, name: str | None = None,
) -> dict[str, Any]:
    """Export a checkpoint (parity-checked), measure it and its INT8 twin, maybe publish."""
    from relstream.core import registry as reg
    from student_trainer.encoders import load_tokenizer
    from student_trainer.evaluate import evaluate_pairs
    from student_trainer.export import export_student
    from student_trainer.factory import load_checkpoint
    from student_trainer.onnx_predict import OnnxStudent

    student, ckpt = load_checkpoint(str(checkpoint))
    tokenizer = load_tokenizer()
    config = {k: ckpt.get(k) for k in ("train_config", "loss_weights", "teacher", "data")}
    manifest = export_student(student, tokenizer, out, quantize=quantize,
                              metrics=dict(ckpt.get("metrics") or {}), config=config,
                              training_window=ckpt.get("training_window"))
    if data is not None:
        ds = load_dataset(data, labels if labels else [])
        weights = student.config.score_weights
        probs = OnnxStudent(out, manifest).predict_probs(ds.eval_examples, tokenizer)
        metrics = evaluate_pairs(ds.eval_pairs, probs, ds.truth, weights, ds.long_tail)
        measured = {f"test_{k}": v for k, v in metrics.items()}
        if quantize:
            probs8 = OnnxStudent(out, manifest, int8=True).predict_probs(
                ds.eval_examples, tokenizer)
            m8 = evaluate_pairs(ds.eval_pairs, probs8, ds.truth, weights, ds.long_tail)
            measured.update({
                "int8_test_auc": m8["auc"], "int8_auc_change": m8["auc"] - metrics["auc"],
                "int8_test_ndcg_lin@10": m8["ndcg_lin@10"],
            })
        manifest = manifest.replace(metrics={**manifest.metrics, **measured})
        manifest.write(out)
    result: dict[str, Any] = {"staging": str(out), "graphs": manifest.graphs,
                              "metrics": manifest.metrics,
                              "parity_max_abs_diff": manifest.parity_max_abs_diff}
    if registry is not None:
        import torch

        # The torch weights travel with the graphs, so `relstream train online` can
        # continue from this version (an offline version 1, then continuous training).
        torch.save(student.checkpoint(), Path(out) / reg.STUDENT_FILE)
        model = name or student.kind
        version = reg.publish(registry, out, model)
        result.update({"published": str(reg.version_dir(registry, model, version)),
                       "version": version})
    return result
