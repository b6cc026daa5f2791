"""The cascade against the cross-encoder alone: pairs/s and AUC on the validation pairs.

Each validation query gets `candidates` items: its labelled pairs plus random catalog
items as filler (what a retriever would hand over), shuffled. The cross-encoder alone
scores all of them; the cascade ranks all with the two-tower (item embeddings cached for
the whole catalog, as the server warms them) and rescores the top k with the
cross-encoder. Both use the serving scorers (the graphs the INT8 gate picked, tokenisation
included, one thread, no score cache), interleaved query by query so machine load hits
both alike. AUC (E vs rest) is computed on the labelled pairs only.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relstream.core.item_text import item_text
from relstream.core.manifest import read_manifest
from relstream.core.registry import latest_version, version_dir
from relstream.core.schemas import CatalogItem
from serving.cascade import cascade_scores
from serving.scorer_loading import ScorerOptions, make_scorer
from student_trainer.evaluate import binary_auc

LOSS_KS = (5, 10, 15, 20, 30, 50)


@dataclass(frozen=True)
class CascadeResult:
    queries: int
    candidates: int
    rescore_k: int
    pairs: int
    labelled_pairs: int
    ce_seconds: float
    cascade_seconds: float
    auc_cross_encoder: float
    auc_cascade: float
    auc_two_tower: float
    precision: dict[str, str]
    auc_loss_by_k: dict[int, float]
    """AUC loss at other k, from the same scores (the cross-encoder's score of a pair does
    not depend on its batch, so rescoring the top k is a look-up into the full run)."""

    @property
    def ce_pairs_per_s(self) -> float:
        return self.pairs / self.ce_seconds

    @property
    def cascade_pairs_per_s(self) -> float:
        return self.pairs / self.cascade_seconds

    @property
    def speedup(self) -> float:
        return self.ce_seconds / self.cascade_seconds

    @property
    def auc_loss(self) -> float:
        return self.auc_cross_encoder - self.auc_cascade


def measure_cascade(
    registry: Path, ce_version: str, catalog: Sequence[CatalogItem],
    validation: Sequence[tuple[str, str, str]], *, candidates: int = 100, rescore_k: int = 10,
    max_queries: int = 0, seed: int = 0,
) -> CascadeResult:
    """Score every validation query both ways; see the module docstring."""
    texts = {it.item_id: item_text(it) for it in catalog}
    options = ScorerOptions(threads=1, score_cache_bytes=0)
    ce = make_scorer(read_manifest(version_dir(registry, "cross_encoder", ce_version)), options)
    tt_version = latest_version(registry, "two_tower")
    assert tt_version is not None, f"no two_tower in {registry}"
    tt = make_scorer(read_manifest(version_dir(registry, "two_tower", tt_version)), options,
                     warm_texts=lambda: list(texts.values()))
    by_query: dict[str, dict[str, str]] = defaultdict(dict)
    for query, item_id, grade in validation:
        by_query[query][item_id] = grade
    queries = sorted(by_query)
    rng = random.Random(seed)
    if max_queries:
        queries = rng.sample(queries, min(max_queries, len(queries)))
    all_ids = sorted(texts)
    ce_s = cascade_s = 0.0
    pairs = 0
    grades: list[str] = []
    scored: dict[str, list[float]] = {"ce": [], "cascade": [], "tt": []}
    runs: list[tuple[list[float], list[float], list[str | None]]] = []
    try:
        for query in queries:
            labelled = by_query[query]
            filler = [i for i in rng.sample(all_ids, candidates + len(labelled))
                      if i not in labelled][:max(0, candidates - len(labelled))]
            ids = list(labelled) + filler
            rng.shuffle(ids)
            batch = [texts[i] for i in ids]
            start = time.perf_counter()
            ce_scores = ce.score(query, batch)
            middle = time.perf_counter()
            first = tt.score(query, batch)

            def rescore(idx: list[int], q: str = query, b: list[str] = batch) -> list[float]:
                return ce.score(q, [b[i] for i in idx])

            final, _ = cascade_scores(first, rescore, rescore_k)
            cascade_s += time.perf_counter() - middle
            ce_s += middle - start
            pairs += len(ids)
            runs.append((first, ce_scores, [labelled.get(i) for i in ids]))
            for k, item_id in enumerate(ids):
                if item_id in labelled:
                    grades.append(labelled[item_id])
                    scored["ce"].append(ce_scores[k])
                    scored["cascade"].append(final[k])
                    scored["tt"].append(first[k])
    finally:
        ce.close()
        tt.close()
    return CascadeResult(
        queries=len(queries), candidates=candidates, rescore_k=rescore_k, pairs=pairs,
        labelled_pairs=len(grades), ce_seconds=ce_s, cascade_seconds=cascade_s,
        auc_cross_encoder=binary_auc(scored["ce"], grades),
        auc_cascade=binary_auc(scored["cascade"], grades),
        auc_two_tower=binary_auc(scored["tt"], grades),
        precision={"cross_encoder": ce.precision, "two_tower": tt.precision},
        auc_loss_by_k={k: binary_auc(scored["ce"], grades) - _cascade_auc(runs, k)
                       for k in LOSS_KS})


def _cascade_auc(runs: list[tuple[list[float], list[float], list[str | None]]], k: int) -> float:
    scores, grades = [], []
    for first, ce_scores, labels in runs:

        def lookup(idx: list[int], c: list[float] = ce_scores) -> list[float]:
            return [c[i] for i in idx]

        final, _ = cascade_scores(first, lookup, k)
        for score, label in zip(final, labels, strict=True):
            if label is not None:
                scores.append(score)
                grades.append(label)
    return binary_auc(scores, grades)
