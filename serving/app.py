"""The HTTP service: `create_app(settings)` builds the FastAPI app of the serving contract.

Routes: `POST /v1/score`, `GET /v1/explain`, `/healthz`, `/readyz`, `/metrics`
(Prometheus), and token-protected `/admin/...` for A/B arms and manual model loads.
The long-lived parts live in a `ServingState` built in the lifespan (`app.state.serving`).
"""

from __future__ import annotations

import hmac
import json
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relstream.core.clickhouse import LockedClient, get_client
from serving.ab_router import ABRouter, config_keys, load_config, single_arm
from serving.api_models import ABConfig, ExplainResponse, ScoreRequest, ScoreResponse
from serving.item_lookup import FeastItemLookup, ItemLookup, MemoryItemLookup
from serving.label_store import LabelStore, explain
from serving.limiter import Overloaded, RunLimiter, default_slots
from serving.metrics_writer import MetricsWriter
from serving.model_holder import NoModelLoaded
from serving.model_pool import ModelPool, TooManyModels
from serving.scorer_loading import ScorerOptions, scorer_loader
from serving.service import LimitExceeded, ServingState
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


async def _state(request: Request) -> ServingState:
    # async: a plain function dependency would cost every request a thread-pool hop
    return request.app.state.serving  # type: ignore[no-any-return]


# Module level: FastAPI resolves string annotations against the module's globals.
State = Annotated[ServingState, Depends(_state)]


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


def create_app(
    settings: ServingSettings, *, items: ItemLookup | None = None,
    labels: LabelStore | None = None, connect: Callable[[], LockedClient] | None = None,
) -> FastAPI:
    """The FastAPI app; `items`, `labels` and `connect` override what settings would build."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.serving = build_state(settings, items=items, labels=labels, connect=connect)
        try:
            yield
        finally:
            app.state.serving.close()

    app = FastAPI(
        title="relstream serving", version="1",
        description="Query-item relevance scores from the distilled students, with A/B arms.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)

    def admin(authorization: Annotated[str | None, Header()] = None) -> None:
        if not settings.admin_token:
            raise HTTPException(403, "admin endpoints are disabled (no admin_token configured)")
        # Constant-time comparison: how long a wrong token takes says nothing about how much
        # of it was right. Bytes, since compare_digest refuses non-ASCII str.
        expected = f"Bearer {settings.admin_token}".encode()
        if not hmac.compare_digest((authorization or "").encode(), expected):
            raise HTTPException(401, "admin endpoints need 'Authorization: Bearer <token>'")

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
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

    @app.post("/v1/score", response_model=ScoreResponse, responses={
        413: {"description": "too many items or an over-long query or body"},
        422: {"description": "malformed body; the message names the field"},
        503: {"description": "no model has ever been loaded, or the server is at its "
                             "in-flight limit (with Retry-After)"}})
    async def score(body: ScoreRequest, st: State) -> ScoreResponse:
        try:
            # Admission on the event loop, before a worker thread is taken: past the queue
            # limit the answer is an immediate 503, not an unbounded wait for a thread.
            with st.limiter.admit():
                return await run_in_threadpool(st.score, body)
        except Overloaded as exc:
            st.metrics.overloaded.inc()
            raise HTTPException(503, str(exc),
                                headers={"Retry-After": str(exc.retry_after_s)}) from exc
        except LimitExceeded as exc:
            raise HTTPException(413, str(exc)) from exc
        except NoModelLoaded as exc:
            raise HTTPException(503, str(exc)) from exc

    @app.get("/v1/explain", response_model=ExplainResponse,
             responses={404: {"description": "the pair was never labelled"},
                        413: {"description": "an over-long query or item_id"}})
    def explain_pair(st: State, query: Annotated[str, Query(min_length=1)],
                     item_id: Annotated[str, Query(min_length=1)]) -> ExplainResponse:
        # The same limits as /v1/score: the key is built (normalised) from both strings.
        if len(query) > settings.max_query_chars:
            raise HTTPException(413, f"query: {len(query)} characters is longer than the "
                                     f"maximum of {settings.max_query_chars}")
        if len(item_id) > settings.max_id_chars:
            raise HTTPException(413, f"item_id: {len(item_id)} characters is longer than the "
                                     f"maximum of {settings.max_id_chars}")
        label = st.labels.get(query, item_id)
        if label is None:
            raise HTTPException(404, f"no teacher label for query {query!r} and item {item_id!r}")
        return explain(label, query)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(st: State) -> JSONResponse:
        ready = st.pool.any_ready()
        models = {f"{h.name}@{h.spec}": h.version for h in st.pool.holders()}
        return JSONResponse(status_code=200 if ready else 503,
                            content={"ready": ready, "models": models})

    @app.get("/metrics")
    def metrics(st: State) -> Response:
        return Response(st.metrics.render(), media_type="text/plain; version=0.0.4")

    @app.get("/admin/ab-config", response_model=ABConfig, dependencies=[Depends(admin)])
    def get_ab_config(st: State) -> ABConfig:
        return st.router.config

    @app.put("/admin/ab-config", response_model=ABConfig, dependencies=[Depends(admin)])
    def put_ab_config(config: ABConfig, st: State) -> ABConfig:
        try:
            load_arms(st.pool, config)  # the new arms' models load before any user moves over
        except TooManyModels as exc:
            raise HTTPException(409, str(exc)) from exc
        st.router.set_config(config)
        st.pool.retain(config_keys(config))  # unload what no arm serves any more
        log.info("A/B config replaced: %s", config.model_dump())
        return config

    @app.get("/admin/models", dependencies=[Depends(admin)])
    def get_models(st: State) -> dict[str, Any]:
        return st.snapshot()

    @app.get("/admin/ab-report", dependencies=[Depends(admin)],
             responses={404: {"description": "no requests of that experiment (or bad arm)"},
                        409: {"description": "this server writes no metrics"}})
    def ab_report(
        st: State, experiment: Annotated[str, Query(min_length=1, max_length=128)],
        pre_experiment: Annotated[str | None, Query(max_length=128)] = None,
        baseline: Annotated[str | None, Query(max_length=64)] = None,
        alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
        min_requests: Annotated[int, Query(ge=0)] = 200,
    ) -> dict[str, Any]:
        """The A/B report computed here, by the process that owns the metrics tables: an
        embedded ClickHouse admits one process per path, so `relstream ab-report --server`
        asks the server instead of opening the path itself."""
        from serving.ab_report import ReportError, compute_report, read_label_gains

        if st.writer is None:
            raise HTTPException(409, "metrics are disabled on this server: nothing to report")
        st.writer.flush()  # what was served until now counts
        try:
            labels = (read_label_gains(settings.report_labels_path)
                      if settings.report_labels_path else None)
            report = compute_report(
                connect() if connect else get_client(settings), experiment,
                requests_table=settings.metrics_table, feedback_table=settings.feedback_table,
                labels=labels, pre_experiment=pre_experiment, baseline=baseline, alpha=alpha,
                min_requests=min_requests)
        except ReportError as exc:
            raise HTTPException(404, str(exc)) from exc
        except Exception as exc:  # ClickHouse down, tables not yet created, ...
            raise HTTPException(503, f"cannot compute the report: {exc}") from exc
        return report.to_json()

    @app.post("/admin/models/{name}/load", dependencies=[Depends(admin)])
    def load_model(name: str, version: Annotated[str, Query(pattern=r"^[0-9]{1,18}$")],
                   st: State) -> dict[str, Any]:
        holders = [h for h in st.pool.holders() if h.name == name and h.follows_latest]
        if not holders:
            raise HTTPException(404, f"no arm serves the latest {name!r}")
        loaded = [h.load(version) or h.version == version for h in holders]
        if not all(loaded):
            raise HTTPException(409, f"loading {name} v{version} failed: "
                                f"{'; '.join(h.stats.last_error for h in holders)}")
        return {"name": name, "version": version}

    return app


def run(settings: ServingSettings) -> None:
    """Serve with uvicorn until interrupted (`relstream serve`)."""
    import uvicorn

    uvicorn.run(create_app(settings), host=settings.host, port=settings.port,
                log_level="info", access_log=False)
