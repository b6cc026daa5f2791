"""One offline run end to end: data dir + teacher labels → splits → train → evaluate.

A data dir holds the contract files: catalog.jsonl, labels.jsonl (the ground truth, for
evaluation only) and search_log.jsonl, whose queries give the splits when the dir has no
splits.json (by query hash, whole queries per split: `relstream.core.shop_files`).
Teacher labels are split by query; the evaluation pairs are the ground-truth pairs of the
test split, restricted to those the teacher also labelled when it labelled any, so that
every row of a report (teacher and students) is measured on the same pairs.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relstream.core import shop_files
from relstream.core.item_text import item_text
from relstream.core.schemas import GRADES, CatalogItem, TeacherLabel, normalize_query
from student_trainer.config import DIMENSIONS, IGNORE
from student_trainer.data import (
    DataError,
    Example,
    build_examples,
    read_teacher_labels,
    split_by_queries,
)
from student_trainer.evaluate import Pair, evaluate_pairs, load_truth, split_pairs
from student_trainer.student_base import Student

log = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Train/validation examples (teacher labels) and the evaluation pairs (ground truth)."""

    train: list[Example]
    validation: list[Example]
    eval_pairs: list[Pair]
    eval_examples: list[Example]
    truth: dict[Pair, str]
    long_tail: list[str]
    teacher_probs: np.ndarray | None = None
    teacher_models: list[str] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        return {"train": len(self.train), "validation": len(self.validation),
                "eval_pairs": len(self.eval_pairs), "teacher": self.teacher_models}


def eval_example(query: str, item: CatalogItem) -> Example:
    """An example to score only (no teacher label): the teacher fields are placeholders."""
    uniform = (0.25, 0.25, 0.25, 0.25)
    return Example(query=query, item_id=item.item_id, item_text=item_text(item),
                   teacher_probs=uniform, dim_targets=(IGNORE,) * len(DIMENSIONS),
                   evidence=(), query_cot="none", item_cot="none")


def load_dataset(data_dir: Path, labels: list[TeacherLabel] | Path, *, split: str = "test",
                 max_train: int = 0, seed: int = 0, with_eval: bool = True) -> Dataset:
    """Read a data dir and teacher labels into a `Dataset` (see the module docstring).

    `with_eval=False` reads no ground truth at all: the evaluation part stays empty (for
    choices that must be made on validation only, e.g. `relstream bench mkd-search`)."""
    data_dir = Path(data_dir)
    shop_files.check_world(data_dir)
    catalog = shop_files.load_catalog(data_dir)
    splits = shop_files.load_splits(data_dir)
    if split not in splits:
        raise DataError(f"{data_dir}: no split {split!r} (has {sorted(splits)})")
    truth = (load_truth(shop_files.find(data_dir, "labels.jsonl") or data_dir / "labels.jsonl")
             if with_eval else {})
    if isinstance(labels, Path | str):
        labels = read_teacher_labels(Path(labels))
    examples = build_examples(labels, catalog)
    parts = split_by_queries(examples, {"train": splits["train"],
                                        "validation": splits["validation"]})
    train = parts["train"]
    if max_train and len(train) > max_train:
        train = random.Random(seed).sample(train, max_train)
    pairs = split_pairs(truth, splits[split])
    by_pair = {(normalize_query(lb.query), lb.item_id): lb for lb in labels}
    covered = [p for p in pairs if p in by_pair]
    teacher_probs = None
    if covered:
        pairs = covered
        teacher_probs = np.array([[by_pair[p].grade_probs[g] for g in GRADES]
                                  for p in pairs], dtype=np.float64)
    raw_query = {normalize_query(q): q for q in splits[split]}
    missing = [p for p in pairs if p[1] not in catalog]
    if missing:
        raise DataError(f"{len(missing)} evaluation pair(s) name items missing from the "
                        f"catalog, e.g. {missing[0]}")
    eval_examples = [eval_example(raw_query.get(q, q), catalog[i]) for q, i in pairs]
    long_tail = splits.get(f"{split}_long_tail", [])
    models = sorted({f"{lb.teacher.model}@{lb.teacher.version}" for lb in labels})
    ds = Dataset(train, parts["validation"], pairs, eval_examples, truth, long_tail,
                 teacher_probs, models)
    log.info("dataset: %s", ds.describe())
    return ds


def evaluate_student(student: Student, tokenizer: Any, ds: Dataset,
                     batch_size: int = 64) -> dict[str, float]:
    """Student metrics on the dataset's evaluation pairs (overall and long tail)."""
    import torch

    logits = student.predict_logits(ds.eval_examples, tokenizer, batch_size)
    probs = torch.softmax(logits, dim=-1).numpy()
    return evaluate_pairs(ds.eval_pairs, probs, ds.truth, student.config.score_weights,
                          ds.long_tail)


def evaluate_teacher(ds: Dataset, score_weights: dict[str, float]) -> dict[str, float] | None:
    """The teacher's metrics on the same pairs, or None when it labelled none of them."""
    if ds.teacher_probs is None:
        return None
    return evaluate_pairs(ds.eval_pairs, ds.teacher_probs, ds.truth, score_weights,
                          ds.long_tail)
