"""Teacher evaluation (`relstream teacher eval`): grade metrics on a world's split.

Metrics over the four ESCI grades: accuracy and macro-F1 of the argmax grade, binary AUC
of p(E) for E against the rest, and the expected calibration error of the top grade's
probability (10 equal-width bins); the same again for the long-tail subset
(`splits["test_long_tail"]`). The TF-IDF baseline scores pairs by cosine only; to give it
a grade (for accuracy and macro-F1) a one-feature logistic regression maps its score to a
grade, fitted on the world's training split.

A world is a simulated one or a shop's contract files (catalog.jsonl, labels.jsonl and
search_log.jsonl, whose queries give the splits when there is no splits.json; see
`relstream.core.shop_files`); `EvalSet` reads and checks it before any model loads.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from relstream.core.schemas import GRADES, CatalogItem, Grade
from teacher_worker.errors import TeacherWorkerError


def classification_metrics(
    truth: Sequence[Grade], probs: Sequence[Mapping[str, float]], n_bins: int = 10
) -> dict[str, float]:
    """accuracy, macro_f1, auc_e_vs_rest, ece and n for grade distributions against labels."""
    from sklearn.metrics import f1_score, roc_auc_score

    if len(truth) != len(probs) or not truth:
        raise TeacherWorkerError(f"need equal, non-zero numbers of labels and predictions, got "
                                 f"{len(truth)} and {len(probs)}")
    p = np.array([[row[g] for g in GRADES] for row in probs], dtype=float)
    y = np.array([GRADES.index(g) for g in truth])
    pred = p.argmax(axis=1)
    is_e = (y == 0).astype(int)
    auc = float(roc_auc_score(is_e, p[:, 0])) if 0 < is_e.sum() < len(is_e) else float("nan")
    return {
        "n": float(len(y)),
        "accuracy": float((pred == y).mean()),
        "macro_f1": float(f1_score(y, pred, labels=list(range(len(GRADES))), average="macro",
                                   zero_division=0)),
        "auc_e_vs_rest": auc,
        "ece": expected_calibration_error(p.max(axis=1), pred == y, n_bins),
    }


def expected_calibration_error(confidence: np.ndarray, correct: np.ndarray,
                               n_bins: int = 10) -> float:
    """Σ_b |B_b|/N · |acc(B_b) − conf(B_b)| over equal-width confidence bins."""
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    total = 0.0
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            total += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(total)


def sample_pairs(
    labels: Collection[tuple[str, str]], queries: Sequence[str], limit: int | None,
    seed: int = 0,
) -> list[tuple[str, str]]:
    """The pairs (of `labels`: a set, or a mapping keyed by pair) whose query is in
    `queries`, a seeded random sample of at most `limit`."""
    wanted = set(queries)
    pairs = sorted(p for p in labels if p[0] in wanted)
    if limit is not None and len(pairs) > limit:
        pairs = sorted(random.Random(seed).sample(pairs, limit))
    return pairs


def tfidf_grade_probs(
    world: Path, pairs: Sequence[tuple[str, str]], catalog: Mapping[str, CatalogItem],
    labels: Mapping[tuple[str, str], Grade], train_queries: Sequence[str], seed: int = 0,
) -> list[dict[str, float]]:
    """TF-IDF cosine → grade distribution via a logistic regression fitted on train pairs."""
    from sklearn.linear_model import LogisticRegression

    from relstream.core.metrics import tfidf_scores

    train = sample_pairs(labels, train_queries, 20_000, seed)
    x_train = tfidf_scores(train, catalog).reshape(-1, 1)
    y_train = [GRADES.index(labels[p]) for p in train]
    clf = LogisticRegression(max_iter=1000).fit(x_train, y_train)
    proba = clf.predict_proba(tfidf_scores(pairs, catalog).reshape(-1, 1))
    out = []
    for row in proba:
        dist: dict[str, float] = dict.fromkeys(GRADES, 0.0)
        for cls, value in zip(clf.classes_, row, strict=True):
            dist[GRADES[int(cls)]] = float(value)
        out.append(dist)
    return out


def report(
    name: str, pairs: Sequence[tuple[str, str]], truth: Mapping[tuple[str, str], Grade],
    probs: Sequence[Mapping[str, float]], long_tail: set[str], extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One row of the comparison table: metrics on all pairs and on the long-tail ones."""
    row: dict[str, Any] = {"model": name}
    row.update(classification_metrics([truth[p] for p in pairs], probs))
    tail = [k for k, p in enumerate(pairs) if p[0] in long_tail]
    if tail:
        tail_metrics = classification_metrics([truth[pairs[k]] for k in tail],
                                              [probs[k] for k in tail])
        row.update({f"tail_{k}": v for k, v in tail_metrics.items()})
    row.update(extra or {})
    return row


class EvalSet:
    """The labelled pairs of one split of a world, with what metrics need."""

    def __init__(self, world: Path, split: str = "test", limit: int | None = None,
                 seed: int = 0) -> None:
        from relstream.core.shop_files import check_world, load_catalog, load_labels, load_splits

        check_world(world)
        self.world = Path(world)
        self.catalog = load_catalog(world)
        self.labels = load_labels(world)
        self.splits = load_splits(world)
        if split not in self.splits:
            raise TeacherWorkerError(f"split {split!r} not in {sorted(self.splits)}")
        self.pairs = sample_pairs(self.labels, self.splits[split], limit, seed)
        missing = [i for _, i in self.pairs if i not in self.catalog]
        if missing:
            raise TeacherWorkerError(f"{world}: {len(set(missing))} labelled item(s) are not in "
                                     f"catalog.jsonl, e.g. {missing[0]!r}")
        self.long_tail = set(self.splits.get("test_long_tail", []))
        self.seed = seed


def teacher_probs(
    backend: Any, eval_set: EvalSet, batch: int = 32, progress: bool = True
) -> tuple[list[dict[str, float]], dict[str, float]]:
    """Grade distributions of a backend for every pair, and run stats.

    Stats: `parse_rate` (share of outputs `parse_cot` reads), `marker_rate` (share that
    reached `Grade:` without forcing), `seconds`, `labels_per_s`.
    """
    import time

    from tqdm import tqdm

    from relstream.core.cot import CotParseError, parse_cot

    probs: list[dict[str, float]] = []
    parsed = marker = 0
    t0 = time.perf_counter()
    for start in tqdm(range(0, len(eval_set.pairs), batch), desc="eval", disable=not progress):
        chunk = eval_set.pairs[start : start + batch]
        judgements = backend.judge([(q, eval_set.catalog[i]) for q, i in chunk])
        for j in judgements:
            probs.append(dict(j.grade_probs))
            marker += j.marker_found
            try:
                parse_cot(j.cot)
                parsed += 1
            except CotParseError:
                pass
    seconds = time.perf_counter() - t0
    n = max(1, len(eval_set.pairs))
    return probs, {"parse_rate": parsed / n, "marker_rate": marker / n, "seconds": seconds,
                   "labels_per_s": len(eval_set.pairs) / seconds if seconds else 0.0}


def tfidf_row(eval_set: EvalSet) -> dict[str, Any]:
    """The TF-IDF baseline's row on the same pairs."""
    probs = tfidf_grade_probs(eval_set.world, eval_set.pairs, eval_set.catalog,
                              eval_set.labels, eval_set.splits["train"], eval_set.seed)
    return report("tfidf", eval_set.pairs, eval_set.labels, probs, eval_set.long_tail)
