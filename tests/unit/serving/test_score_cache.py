"""The per-version score cache: bounded in bytes (LRU), only misses reach the model, and a
swap starts the new version empty while the old version's entries are dropped."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from relstream.core.manifest import read_manifest
from serving.model_holder import ModelHolder
from serving.score_cache import CachedScorer, ScoreCache, entry_bytes
from serving.scorer_loading import ScorerOptions, scorer_loader

QUERY = "stride runner black"
TEXTS = ["Stride Runner 4 black shoe", "trailpeak hiking boot", "pink running shoe"]


class _Counting:
    """A scorer that records what it was asked to score (score = len(text) / 100)."""

    def __init__(self, manifest: object) -> None:
        self.manifest = manifest
        self.precision = "fp32"
        self.calls: list[list[str]] = []
        self.closed = False

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        self.calls.append(list(texts))
        return [len(t) / 100 for t in texts]

    def warm_items(self, texts: Sequence[str]) -> int:
        return 0

    def close(self) -> None:
        self.closed = True


def test_only_misses_reach_the_model_and_order_is_kept(registry: Path) -> None:
    inner = _Counting(read_manifest(registry / "cross_encoder" / "1"))
    scorer = CachedScorer(inner, max_bytes=1 << 20)  # type: ignore[arg-type]
    first = scorer.score(QUERY, TEXTS[:2])
    again = scorer.score(QUERY, [TEXTS[1], TEXTS[2], TEXTS[1], TEXTS[0]])
    assert inner.calls == [TEXTS[:2], [TEXTS[2]]]  # duplicates and hits never recomputed
    assert again == [first[1], len(TEXTS[2]) / 100, first[1], first[0]]
    assert (scorer.cache.hits, scorer.cache.misses) == (3, 3)
    scorer.score("another query", TEXTS[:1])  # the key is the pair, not the item
    assert inner.calls[-1] == TEXTS[:1]
    scorer.close()
    assert inner.closed and len(scorer.cache) == 0 and scorer.cache.bytes == 0


def test_bounded_in_bytes_least_recently_used_first() -> None:
    one = entry_bytes("q", "item 0")
    cache = ScoreCache(max_bytes=3 * one)
    cache.put_many("q", ["item 0", "item 1", "item 2"], [0.0, 0.1, 0.2])
    assert cache.get_many("q", ["item 0"]) == [0.0]  # item 0 is now the most recent
    cache.put_many("q", ["item 3"], [0.3])
    assert cache.bytes <= 3 * one and len(cache) == 3 and cache.evictions == 1
    assert cache.get_many("q", ["item 1", "item 0", "item 2", "item 3"]) == [None, 0.0, 0.2, 0.3]
    long_text = "x" * (4 * one)  # bigger than the whole cache: not kept, nothing evicted
    cache.put_many("q", [long_text], [0.9])
    assert len(cache) == 3 and cache.get_many("q", [long_text]) == [None]


def test_a_swap_starts_empty_and_drops_the_old_versions_entries(registry: Path) -> None:
    load = scorer_loader(ScorerOptions(score_cache_bytes=1 << 20))
    holder = ModelHolder(registry, "cross_encoder", "1", load=load)
    holder.refresh()
    with holder.lease() as v1:
        old_cache = v1.scorer.cache  # type: ignore[attr-defined]
        entries, hits = len(old_cache), old_cache.hits  # the load's warm-up pairs
        v1_scores = v1.scorer.score(QUERY, TEXTS)
        v1.scorer.score(QUERY, TEXTS)
        assert len(old_cache) == entries + 3 and old_cache.hits == hits + 3
        assert holder.load("2")
        assert len(old_cache) == entries + 3  # in-flight requests still read their version
    assert v1.released.is_set() and len(old_cache) == 0 and old_cache.bytes == 0
    with holder.lease() as v2:
        assert v2.version == "2"
        new_cache = v2.scorer.cache  # type: ignore[attr-defined]
        assert new_cache is not old_cache and new_cache.hits == 0
        hits_before = new_cache.hits
        v2_scores = v2.scorer.score(QUERY, TEXTS)
        assert new_cache.hits == hits_before  # no v1 score is ever served by v2
        assert v2_scores != v1_scores
    holder.close()
