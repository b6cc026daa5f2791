"""The scoring service's state and its one operation, `score`, independent of HTTP.

`ServingState` owns the long-lived parts (model pool, A/B router, item lookup, label
store, metrics writer, Prometheus metrics); `create_app` builds one in its lifespan.
"""

from __future__ import annotations

import logging
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

from relstream.core.item_text import item_text
from relstream.core.schemas import CatalogItem
from serving.ab_router import ABRouter
from serving.api_models import ArmConfig, ModelRef, ScoreRequest, ScoreResponse
from serving.cascade import cascade_scores
from serving.errors import ServingError
from serving.item_lookup import ItemLookup, ItemLookupError
from serving.label_store import LabelStore
from serving.limiter import RunLimiter, default_slots
from serving.metrics_writer import MetricsWriter, RequestRow, now
from serving.model_holder import LoadedModel, ModelHolder, NoModelLoaded
from serving.model_pool import ModelPool
from serving.prom import ServingMetrics

log = logging.getLogger(__name__)


class LimitExceeded(ServingError):
    """A request over a configured limit (413); the message names the limit."""


def served_info(holder: ModelHolder) -> dict[str, Any]:
    """Precision ("fp32"/"int8") and score-cache counters of the version served now."""
    try:
        with holder.lease() as model:
            scorer = model.scorer
            cache = getattr(scorer, "cache", None)
            return {"precision": str(scorer.precision), "score_cache": None if cache is None
                    else {"entries": len(cache), "bytes": cache.bytes, "hits": cache.hits,
                          "misses": cache.misses, "evictions": cache.evictions}}
    except NoModelLoaded:
        return {"precision": None, "score_cache": None}


@dataclass
class ServingState:
    pool: ModelPool
    router: ABRouter
    items: ItemLookup
    labels: LabelStore
    writer: MetricsWriter | None
    max_items: int = 200
    max_query_chars: int = 512
    max_id_chars: int = 128
    limiter: RunLimiter = field(default_factory=lambda: RunLimiter(default_slots(1), 64))
    metrics: ServingMetrics = field(init=False)
    closers: list[Any] = field(default_factory=list)
    cascade_fallbacks: int = 0
    """Cascade requests scored by the cross-encoder alone: the first stage never loaded."""

    def __post_init__(self) -> None:
        self.metrics = ServingMetrics(self.snapshot)

    def snapshot(self) -> dict[str, Any]:
        """Live state for /metrics and /admin/models."""
        holders = [
            {"name": h.name, "spec": h.spec, "version": h.version,
             "live_sessions": h.live_sessions, "swaps": h.stats.swaps,
             "failures": h.stats.failures, "last_error": h.stats.last_error,
             **served_info(h),
             # (version, live from, live until or None while live): for swap drills
             "history": [[v, start, None if until == float("inf") else until]
                         for v, start, until in h.stats.history[-100:]]}
            for h in self.pool.holders()
        ]
        writer = None
        if self.writer is not None:
            w = self.writer
            writer = {"written": w.written, "feedback_written": w.feedback_written,
                      "dropped": w.dropped, "insert_failures": w.failures,
                      "buffered": w.buffered, "last_error": w.last_error}
        return {"holders": holders, "writer": writer, "labels": len(self.labels),
                "limiter": self.limiter.snapshot(), "cascade_fallbacks": self.cascade_fallbacks}

    def check_limits(self, request: ScoreRequest) -> None:
        n = len(request.item_ids or request.items or [])
        if n > self.max_items:
            raise LimitExceeded(
                f"item_ids: {n} items is more than the maximum of {self.max_items} per request"
            )
        if len(request.query) > self.max_query_chars:
            raise LimitExceeded(
                f"query: {len(request.query)} characters is longer than the maximum of "
                f"{self.max_query_chars}"
            )
        # Ids are written to ClickHouse with every request: each is bounded too.
        ids = request.item_ids or [it.item_id for it in request.items or []]
        fields = [("request_id", request.request_id), ("user_id", request.user_id),
                  ("item_ids", max(ids, key=len, default=None))]
        for name, value in fields:
            if value is not None and len(value) > self.max_id_chars:
                raise LimitExceeded(
                    f"{name}: an id of {len(value)} characters is longer than the maximum of "
                    f"{self.max_id_chars}")

    def _holder(self, model: str, version: str) -> ModelHolder:
        # `get`, not `holder`: requests never create holders (only configurations do), so
        # an arm that a new A/B config just dropped cannot come back through a late request.
        holder = self.pool.get(model, version)
        if holder is None or holder.version is None:
            # The arm's model never loaded (or was just unloaded): serve the default arm's.
            default = self.router.arm_for(None)
            fallback = self.pool.get(default.model, default.version)
            if fallback is not None and (fallback.version is not None or holder is None):
                return fallback
        if holder is None:
            raise NoModelLoaded(f"{model} v{version} is not served by the current A/B config")
        return holder

    def _texts(self, request: ScoreRequest) -> tuple[list[str], list[str | None], list[str]]:
        """(ids, text or None per item, errors)."""
        if request.items is not None:
            ids = [it.item_id for it in request.items]
            return ids, [item_text(it) for it in request.items], []
        ids = list(request.item_ids or [])
        errors: list[str] = []
        try:
            found: dict[str, CatalogItem | None] = self.items.get_items(list(dict.fromkeys(ids)))
        except ItemLookupError as exc:
            log.error("item lookup failed: %s", exc)
            return ids, [None] * len(ids), [f"item lookup failed: {exc}"]
        texts: list[str | None] = []
        for item_id in ids:
            item = found.get(item_id)
            if item is None:
                texts.append(None)
                errors.append(f"unknown item_id {item_id!r}: not in the catalog")
            else:
                texts.append(item_text(item))
        return ids, texts, errors

    def _first_stage(self, arm: ArmConfig) -> ModelHolder | None:
        """The arm's loaded two-tower first stage, or None (no cascade, or not loaded)."""
        if arm.cascade is None:
            return None
        holder = self.pool.get(arm.cascade.model, arm.cascade.version)
        if holder is None or holder.version is None:
            self.cascade_fallbacks += 1  # serve the cross-encoder alone rather than fail
            return None
        return holder

    def _run(self, arm: ArmConfig, request: ScoreRequest, holder: ModelHolder,
             texts: list[str]) -> tuple[list[float], LoadedModel, LoadedModel | None]:
        """Model work of one request, in a limiter slot: (scores, model, first stage)."""
        first = self._first_stage(arm)
        # The slot before the leases: a request waiting for a slot must not keep a
        # swapped-out version alive.
        with self.limiter.slot(), ExitStack() as stack:
            model = stack.enter_context(holder.lease())
            if first is None or arm.cascade is None or not texts:
                return model.scorer.score(request.query, texts), model, None
            stage = stack.enter_context(first.lease())
            k = request.rescore_k or arm.cascade.rescore_k
            ranked = stage.scorer.score(request.query, texts)
            values, _ = cascade_scores(
                ranked, lambda idx: model.scorer.score(request.query, [texts[i] for i in idx]),
                k)
            return values, model, stage

    def score(self, request: ScoreRequest) -> ScoreResponse:
        """Score one request; `LimitExceeded` (413) or `NoModelLoaded` (503) otherwise."""
        start = time.perf_counter()
        self.check_limits(request)
        request_id = request.request_id or uuid.uuid4().hex
        arm = self.router.arm_for(request.user_id)
        holder = self._holder(arm.model, arm.version)
        ids, texts, errors = self._texts(request)
        known = [k for k, t in enumerate(texts) if t is not None]
        scores: list[float | None] = [None] * len(ids)
        # An item repeated in one request is scored once (same text, same score).
        unique = list(dict.fromkeys(texts[k] or "" for k in known))
        try:
            values, model, stage = self._run(arm, request, holder, unique)
            version = model.version
        except NoModelLoaded:
            self.metrics.requests.labels(arm.name, "503").inc()
            raise
        self.metrics.scored_items.inc(len(unique))
        by_text = dict(zip(unique, values, strict=True))
        for k in known:
            scores[k] = by_text[texts[k] or ""]
        if len(known) < len(ids):
            self.metrics.unknown_items.inc(len(ids) - len(known))
        latency = time.perf_counter() - start
        self.metrics.requests.labels(arm.name, "200").inc()
        self.metrics.latency.labels(arm.name).observe(latency)
        if self.writer is not None:
            self.writer.submit(RequestRow(
                request_id=request_id, experiment=self.router.config.experiment,
                user_id=request.user_id or "", arm=arm.name, model_name=holder.name,
                model_version=version, query=request.query, item_ids=ids, scores=scores,
                latency_ms=latency * 1000, ts=now(),
            ))
        return ScoreResponse(
            request_id=request_id, arm=arm.name,
            model=ModelRef(name=holder.name, version=version), scores=scores, errors=errors,
            first_stage=ModelRef(name=stage.name, version=stage.version) if stage else None,
        )

    def close(self) -> None:
        for closer in reversed(self.closers):
            try:
                closer()
            except Exception:  # shutdown goes on whatever one part does
                log.exception("error while shutting down")
        self.pool.close()
        if self.writer is not None:
            self.writer.close()
