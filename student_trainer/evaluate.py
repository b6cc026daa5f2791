"""Evaluation against ground truth: binary AUC, NDCG@10, macro-F1, for students and teacher.

Ground truth (`labels.jsonl`) is used here only, never in training. Metrics:
- `auc`: ROC AUC of the relevance score, E vs rest (the contract's binary reading);
- `ndcg_lin@10`: per query, items ranked by score, *linear* gains 3/2/1/0 for E/S/C/I
  (`relstream.core.schemas.LINEAR_GAINS`), DCG = Σ gain / log2(rank + 1), divided by the ideal
  DCG; mean over queries whose ideal DCG is positive. Named apart from the `ndcg@10` of
  the A/B report and the simulator baseline, which use the ESCI gains 1/0.1/0.01/0;
- `macro_f1`: F1 of the argmax grade, averaged over the four grades.
Each is computed on a split's pairs and on its long-tail subset.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from relstream.core import metrics as ranking
from relstream.core.schemas import GRADES, LINEAR_GAINS, normalize_query
from relstream.core.shop_files import load_splits as load_world_splits
from relstream.core.shop_files import read_labels

NDCG_KEY = "ndcg_lin@10"
"""The key of this module's NDCG@10 (linear gains) in every metrics dict it returns."""
Pair = tuple[str, str]


def load_truth(path: Path) -> dict[Pair, str]:
    """(normalised query, item_id) → grade from a contract labels.jsonl (gzip allowed)."""
    return {(normalize_query(q), i): g for (q, i), g in read_labels(Path(path)).items()}


def load_splits(path: Path) -> dict[str, list[str]]:
    """A data dir's splits, given the dir or its `splits.json` path (which may be absent:
    then they are derived from the search log). One implementation for every package:
    `relstream.core.shop_files.load_splits`; this is kept for callers that pass the path."""
    path = Path(path)
    return load_world_splits(path if path.is_dir() else path.parent)


def binary_auc(scores: Sequence[float], grades: Sequence[str]) -> float:
    """ROC AUC of E vs S/C/I; NaN when only one class is present."""
    return ranking.binary_auc(grades, scores)  # type: ignore[arg-type]


def ndcg_at_k(queries: Sequence[str], scores: Sequence[float], grades: Sequence[str],
              k: int = 10) -> float:
    """Mean NDCG@k over queries (linear gains 3/2/1/0, not ESCI's); ties keep input order."""
    return ranking.ndcg_at_k(queries, grades, scores, k, gains=LINEAR_GAINS)


def macro_f1(predicted: Sequence[str], grades: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(grades), list(predicted), labels=list(GRADES),
                          average="macro", zero_division=0))


def grade_metrics(queries: Sequence[str], probs: np.ndarray, grades: Sequence[str],
                  score_weights: Mapping[str, float]) -> dict[str, float]:
    """AUC, NDCG@10 (linear gains, key `ndcg_lin@10`), macro-F1 of grade distributions
    `probs` [N, 4] (E, S, C, I order)."""
    if len(grades) == 0:
        return {"auc": float("nan"), NDCG_KEY: float("nan"), "macro_f1": float("nan"), "n": 0}
    weights = np.array([score_weights[g] for g in GRADES])
    scores = probs @ weights
    predicted = [GRADES[i] for i in probs.argmax(axis=1)]
    return {
        "auc": binary_auc(scores, grades),
        NDCG_KEY: ndcg_at_k(queries, scores, grades),
        "macro_f1": macro_f1(predicted, grades),
        "n": float(len(grades)),
    }


def split_pairs(truth: Mapping[Pair, str], queries: Sequence[str]) -> list[Pair]:
    """The ground-truth pairs whose query is in `queries`, in a stable order."""
    wanted = {normalize_query(q) for q in queries}
    return sorted(p for p in truth if p[0] in wanted)


def long_tail_index(pairs: Sequence[Pair], long_tail: Sequence[str]) -> list[int]:
    """Positions of the pairs whose (normalised) query is a long-tail query."""
    tail = {normalize_query(q) for q in long_tail}
    return [i for i, p in enumerate(pairs) if p[0] in tail]


def evaluate_pairs(pairs: Sequence[Pair], probs: np.ndarray, truth: Mapping[Pair, str],
                   score_weights: Mapping[str, float],
                   long_tail: Sequence[str] = ()) -> dict[str, float]:
    """Metrics overall and on the long-tail subset, keys `auc`, ..., `lt_auc`, ..."""
    grades = [truth[p] for p in pairs]
    queries = [p[0] for p in pairs]
    out = grade_metrics(queries, probs, grades, score_weights)
    idx = long_tail_index(pairs, long_tail)
    lt = grade_metrics([queries[i] for i in idx], probs[idx] if idx else probs[:0],
                       [grades[i] for i in idx], score_weights)
    out.update({f"lt_{k}": v for k, v in lt.items()})
    return out
