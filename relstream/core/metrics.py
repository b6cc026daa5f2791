"""The bag-of-words baseline: TF-IDF cosine between query and item text, and its metrics.

`tfidf_scores` scores (query, item) pairs with a `TfidfVectorizer` fitted on the
catalog's item texts (`relstream.core.item_text.item_text`); `binary_auc` and `ndcg_at_k` are
the metrics every evaluator quotes. If this baseline reached an AUC of 0.9 or more (E
against the rest) the world would be too easy for word overlap.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from relstream.core.item_text import item_text
from relstream.core.schemas import ESCI_GAINS, CatalogItem, Grade
from relstream.core.shop_files import load_catalog, load_labels, load_splits


def tfidf_scores(pairs: Sequence[tuple[str, str]],
                 catalog: Mapping[str, CatalogItem]) -> np.ndarray:
    """Cosine similarity of TF-IDF vectors for each (query, item_id) pair."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    ids = sorted(catalog)
    row = {item_id: k for k, item_id in enumerate(ids)}
    vec = TfidfVectorizer(sublinear_tf=True)
    items = vec.fit_transform([item_text(catalog[i]) for i in ids])
    queries = sorted({q for q, _ in pairs})
    qrow = {q: k for k, q in enumerate(queries)}
    qm = vec.transform(queries)
    a = qm[[qrow[q] for q, _ in pairs]]
    b = items[[row[i] for _, i in pairs]]
    return np.asarray(a.multiply(b).sum(axis=1)).ravel()


def binary_auc(grades: Sequence[Grade], scores: Sequence[float] | np.ndarray,
               positive: str = "E") -> float:
    """ROC AUC of `scores` for `positive` against every other grade (NaN if one class)."""
    from sklearn.metrics import roc_auc_score

    y = [g == positive for g in grades]
    if all(y) or not any(y):
        return float("nan")
    return float(roc_auc_score(y, scores))


def ndcg_at_k(queries: Sequence[str], grades: Sequence[Grade] | Sequence[str],
              scores: Sequence[float] | np.ndarray, k: int = 10,
              gains: Mapping[str, float] = ESCI_GAINS) -> float:
    """Mean NDCG@k over queries with any gain, ranking each query's labelled items."""
    by_q: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for q, g, s in zip(queries, grades, scores, strict=True):
        by_q[q].append((float(s), gains[g]))
    values = []
    for rows in by_q.values():
        ideal = sorted((g for _, g in rows), reverse=True)[:k]
        idcg = sum(g / math.log2(r + 2) for r, g in enumerate(ideal))
        if idcg <= 0:
            continue
        ranked = sorted(rows, key=lambda sg: -sg[0])[:k]  # stable: ties keep label order
        dcg = sum(g / math.log2(r + 2) for r, (_, g) in enumerate(ranked))
        values.append(dcg / idcg)
    return float(np.mean(values)) if values else float("nan")


def evaluate_tfidf(world_dir: Path | str, split: str = "test") -> dict[str, float]:
    """The TF-IDF baseline on one split's labelled pairs: AUC (E vs rest) and NDCG@10."""
    catalog = load_catalog(world_dir)
    labels = load_labels(world_dir)
    wanted = set(load_splits(world_dir)[split])
    pairs = [p for p in labels if p[0] in wanted]
    if not pairs:
        return {"pairs": 0.0, "queries": 0.0, "auc_e_vs_rest": float("nan"),
                "ndcg@10": float("nan")}
    scores = tfidf_scores(pairs, catalog)
    grades = [labels[p] for p in pairs]
    return {
        "pairs": float(len(pairs)),
        "queries": float(len({q for q, _ in pairs})),
        "auc_e_vs_rest": binary_auc(grades, scores),
        "ndcg@10": ndcg_at_k([q for q, _ in pairs], grades, scores),
    }
