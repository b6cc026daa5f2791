"""Cascade scoring: a cheap first stage ranks every candidate, the cross-encoder rescores the top k.

The first stage is the two-tower student (query tower once, item embeddings cached per
version, a small head per item); the cross-encoder then scores only the `k` best. Scores
stay comparable across the cut: the top k carry the cross-encoder's scores; the rest
keep the first stage's scores, all scaled by one factor so that none exceeds the lowest
rescored score. Both students' scores are Σ_g w_g·softmax(logits)_g in [0, 1], so the
tail stays on the same scale, in the first stage's order, below every rescored item —
the ranking a cascade means (the cross-encoder decides among the top k, the first stage
below).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from serving.errors import ServingError


class CascadeError(ServingError):
    """A cascade was asked for something impossible (k < 1, a wrong number of scores)."""


def top_k(scores: Sequence[float], k: int) -> list[int]:
    """Indices of the `k` highest scores, best first (ties: the earlier index first)."""
    return sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]


def cascade_scores(
    first: Sequence[float], rescore: Callable[[list[int]], Sequence[float]], k: int,
) -> tuple[list[float], list[int]]:
    """Final scores for every candidate, and the indices that were rescored.

    `first[i]` is the first stage's score of candidate i; `rescore(indices)` returns the
    cross-encoder's scores of those candidates, in that order. With k >= len(first)
    every candidate is rescored (the cross-encoder alone).
    """
    if k < 1:
        raise CascadeError(f"rescore k must be at least 1, got {k}")
    head = top_k(first, k)
    rescored = list(rescore(head))
    if len(rescored) != len(head):
        raise CascadeError(f"rescoring {len(head)} candidates returned {len(rescored)} scores")
    out = [float(s) for s in first]
    for i, s in zip(head, rescored, strict=True):
        out[i] = float(s)
    in_head = set(head)
    tail = [i for i in range(len(first)) if i not in in_head]
    if tail and head:
        floor = min(rescored)
        tail_max = max(first[i] for i in tail)
        # One factor for the whole tail keeps its order; none ends above the head.
        scale = floor / tail_max if tail_max > floor else 1.0
        for i in tail:
            out[i] = float(first[i]) * scale
    return out, head
