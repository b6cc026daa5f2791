"""How the service turns a verified manifest into the scorer it serves.

`ScorerOptions` (from `ServingSettings`) picks the graphs (INT8 only when the version's
gate passed, `serving.precision`), the onnxruntime threads and arena, the two-tower's
embedding cache and the per-version score cache; `scorer_loader` gives the model holders
a function doing all of it, warming a new two-tower version's item embeddings before it
is swapped in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from relstream.core.manifest import ModelManifest
from serving.onnx_scorer import Scorer, load_scorer
from serving.precision import DEFAULT_MAX_AUC_DROP, choose_graphs
from serving.score_cache import CachedScorer
from serving.settings import ServingSettings

log = logging.getLogger(__name__)

ItemTexts = Callable[[], Sequence[str]]
"""Item texts known now (the in-memory catalog), for warming two-tower versions."""


@dataclass(frozen=True)
class ScorerOptions:
    threads: int = 1
    arena: bool = True
    int8: Literal["auto", "off"] = "auto"
    int8_max_auc_drop: float = DEFAULT_MAX_AUC_DROP
    embedding_cache_size: int = 100_000
    score_cache_bytes: int = 0

    @classmethod
    def from_settings(cls, settings: ServingSettings) -> ScorerOptions:
        return cls(threads=settings.onnx_threads, arena=settings.onnx_arena, int8=settings.int8,
                   int8_max_auc_drop=settings.int8_max_auc_drop,
                   embedding_cache_size=settings.embedding_cache_size,
                   score_cache_bytes=settings.score_cache_bytes)


def make_scorer(manifest: ModelManifest, options: ScorerOptions,
                warm_texts: ItemTexts | None = None) -> Scorer:
    """Load `manifest`'s chosen graphs with `options`; closes what it built on failure."""
    precision = choose_graphs(manifest, options.int8, options.int8_max_auc_drop)
    log.info("%s v%s: serving %s (%s)", manifest.name, manifest.version, precision.name,
             precision.reason)
    scorer: Scorer = load_scorer(
        manifest, options.threads, options.embedding_cache_size, graphs=precision.graphs,
        precision=precision.name, arena=options.arena)
    if options.score_cache_bytes > 0:
        scorer = CachedScorer(scorer, options.score_cache_bytes)
    if warm_texts is not None and manifest.kind == "two_tower":
        start = time.perf_counter()
        try:
            n = scorer.warm_items(warm_texts())
        except Exception:
            scorer.close()
            raise
        log.info("%s v%s: embedded %d catalog items in %.1f s", manifest.name,
                 manifest.version, n, time.perf_counter() - start)
    return scorer


def scorer_loader(options: ScorerOptions,
                  warm_texts: ItemTexts | None = None) -> Callable[[ModelManifest], Scorer]:
    """What `ModelPool(load=...)` calls for every version it loads."""

    def load(manifest: ModelManifest) -> Scorer:
        return make_scorer(manifest, options, warm_texts)

    return load
