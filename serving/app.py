"""The HTTP service: `create_app(settings)` builds the FastAPI app of the serving contract.

This module is the composition root: it builds the long-lived parts (`ServingState`: model
pool, A/B router, item lookup, label store, metrics writer, limiter) in the app's lifespan,
hands them to the routes as one `AppContext` (`app.state.context`; the `ServingState`
alone is also `app.state.serving`), and includes the two routers: `routes_public`
(`POST /v1/score`, `GET /v1/explain`, `/healthz`, `/readyz`, `/metrics`) and `routes_admin`
(token-protected `/admin/...` for A/B arms and manual model loads). The body-size limit
and the 422 message format apply to both.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relstream.core.clickhouse import LockedClient, get_client
from serving import routes_admin, routes_public
from serving.ab_router import ABRouter, config_keys, load_config, single_arm
from serving.api_models import ABConfig
from serving.app_context import AppContext
from serving.item_lookup import FeastItemLookup, ItemLookup, MemoryItemLookup
from serving.label_store import LabelStore
from serving.limiter import RunLimiter, default_slots
from serving.metrics_writer import MetricsWriter
from serving.model_pool import ModelPool
from serving.scorer_loading import ScorerOptions, scorer_loader
from serving.service import ServingState
from serving.settings import ServingSettings
from serving.stream_followers import start_followers

log = logging.getLogger(__name__)


class BodySizeLimit:
    """ASGI middleware: 413 for a body over `max_bytes`, declared or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send, int(declared))
            return
        seen = 0
        rejected = False

        async def limited() -> Message:
            # A streamed body over the limit: answer 413 here and tell the app the client
            # left (raising would reach FastAPI's body parser and come out as a 400).
            nonlocal seen, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                rejected = True
                await self._reject(send, seen)
                return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            if not rejected:  # the 413 is already out: drop whatever the app says
                await send(message)

        await self.app(scope, limited, guarded_send)

    async def _reject(self, send: Send, size: int) -> None:
        body = json.dumps({"detail": f"request body of {size}+ bytes exceeds the limit of "
                                     f"{self.max_bytes} bytes"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


def build_state(
    settings: ServingSettings, *, items: ItemLookup | None = None,
    labels: LabelStore | None = None, connect: Callable[[], LockedClient] | None = None,
) -> ServingState:
    """Everything the service holds, started: models loading, writer and pollers running."""
    # The tokenizer's own thread pool would compete with the model slots for the cores;
    # the limiter decides how many requests tokenise at once.
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    if items is None:
        if settings.item_source == "feast":
            items = FeastItemLookup.from_settings(settings)
        elif settings.catalog_path is not None:
            items = MemoryItemLookup.from_jsonl(settings.catalog_path)
        else:
            log.warning("no catalog_path and item_source 'memory': every item_id is unknown "
                        "until the catalog topic fills the catalog (consume_catalog)")
            items = MemoryItemLookup()
    config = (load_config(settings.ab_config_path) if settings.ab_config_path
              else single_arm(settings.model_name))
    writer = None
    if settings.metrics_enabled:
        writer = MetricsWriter(
            connect or (lambda: get_client(settings)), requests_table=settings.metrics_table,
            feedback_table=settings.feedback_table, batch_size=settings.metrics_batch_size,
            flush_s=settings.metrics_flush_s, buffer_max=settings.metrics_buffer_max,
            buffer_max_bytes=settings.metrics_buffer_max_bytes,
        )
        writer.start()
    memory = items if isinstance(items, MemoryItemLookup) else None
    warm = memory.texts if memory is not None and settings.warm_item_embeddings else None
    pool = ModelPool(settings.registry_dir(), threads=settings.onnx_threads,
                     cache_size=settings.embedding_cache_size,
                     load=scorer_loader(ScorerOptions.from_settings(settings), warm),
                     max_holders=settings.max_holders, load_nice=settings.load_nice())
    slots = settings.max_concurrent_runs or default_slots(settings.onnx_threads)
    state = ServingState(
        pool=pool, router=ABRouter(config), items=items,
        labels=labels or LabelStore(settings.label_store_max, settings.label_store_max_bytes),
        writer=writer, max_items=settings.max_items, max_query_chars=settings.max_query_chars,
        max_id_chars=settings.max_id_chars,
        limiter=RunLimiter(slots, settings.max_queued_requests),
    )
    load_arms(pool, config)
    pool.start_polling(settings.poll_interval_s)
    followers = start_followers(settings, pool, state.labels, writer, items)
    if followers is not None:
        state.closers.append(followers.close)
    return state


def load_arms(pool: ModelPool, config: ABConfig) -> None:
    """Create (and load) the holder of every model the arms name, cascade stages included;
    `TooManyModels` if that is more than the pool's `max_holders`."""
    pool.ensure(config_keys(config))


async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    """422 whose `detail` names the fields (`query: Field required`), the errors attached."""
    errors = exc.errors()
    parts = []
    for err in errors[:5]:
        if err.get("type") == "json_invalid":
            reason = (err.get("ctx") or {}).get("error", "")
            parts.append(f"body: not valid JSON ({reason}) near character "
                         f"{err.get('loc', ('', '?'))[-1]}")
            continue
        where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{where}: {err.get('msg')}")
    return JSONResponse(status_code=422, content={
        "detail": "; ".join(parts),
        # parse_constant: an `inf` or `nan` input (a share of Infinity) is echoed as
        # a string; as a float it would make the 422 itself fail to render (a 500).
        "errors": json.loads(json.dumps(errors, default=str), parse_constant=str),
    })


def create_app(
    settings: ServingSettings, *, items: ItemLookup | None = None,
    labels: LabelStore | None = None, connect: Callable[[], LockedClient] | None = None,
) -> FastAPI:
    """The FastAPI app; `items`, `labels` and `connect` override what settings would build."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings, items=items, labels=labels, connect=connect)
        app.state.serving = state
        app.state.context = AppContext(
            settings=settings, serving=state,
            connect=connect or (lambda: get_client(settings)))
        try:
            yield
        finally:
            state.close()

    app = FastAPI(
        title="relstream serving", version="1",
        description="Query-item relevance scores from the distilled students, with A/B arms.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.exception_handler(RequestValidationError)(invalid_request)
    # Public routes first: the order of the paths in /openapi.json and /docs.
    app.include_router(routes_public.router)
    app.include_router(routes_admin.router)
    return app


def run(settings: ServingSettings) -> None:
    """Serve with uvicorn until interrupted (`relstream serve`)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False)
