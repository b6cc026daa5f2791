"""The public routes, what outside users call: `POST /v1/score`, `GET /v1/explain`,
`/healthz`, `/readyz` and `/metrics` (Prometheus).

`/v1/score` and `/v1/explain` are the contract of `shared/contracts/serving-api.md`: keep
their paths, bodies, status codes and headers exactly as they are.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from serving.api_models import ExplainResponse, ScoreRequest, ScoreResponse
from serving.app_context import Context
from serving.label_store import explain
from serving.limiter import Overloaded
from serving.model_holder import NoModelLoaded
from serving.service import LimitExceeded

router = APIRouter()


@router.post("/v1/score", response_model=ScoreResponse, responses={
    413: {"description": "too many items or an over-long query or body"},
    422: {"description": "malformed body; the message names the field"},
    503: {"description": "no model has ever been loaded, or the server is at its "
                         "in-flight limit (with Retry-After)"}})
async def score(body: ScoreRequest, ctx: Context) -> ScoreResponse:
    st = ctx.serving
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


@router.get("/v1/explain", response_model=ExplainResponse,
            responses={404: {"description": "the pair was never labelled"},
                       413: {"description": "an over-long query or item_id"}})
def explain_pair(ctx: Context, query: Annotated[str, Query(min_length=1)],
                 item_id: Annotated[str, Query(min_length=1)]) -> ExplainResponse:
    # The same limits as /v1/score: the key is built (normalised) from both strings.
    settings = ctx.settings
    if len(query) > settings.max_query_chars:
        raise HTTPException(413, f"query: {len(query)} characters is longer than the "
                                 f"maximum of {settings.max_query_chars}")
    if len(item_id) > settings.max_id_chars:
        raise HTTPException(413, f"item_id: {len(item_id)} characters is longer than the "
                                 f"maximum of {settings.max_id_chars}")
    label = ctx.serving.labels.get(query, item_id)
    if label is None:
        raise HTTPException(404, f"no teacher label for query {query!r} and item {item_id!r}")
    return explain(label, query)


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(ctx: Context) -> JSONResponse:
    pool = ctx.serving.pool
    ready = pool.any_ready()
    models = {f"{h.name}@{h.spec}": h.version for h in pool.holders()}
    return JSONResponse(status_code=200 if ready else 503,
                        content={"ready": ready, "models": models})


@router.get("/metrics")
def metrics(ctx: Context) -> Response:
    return Response(ctx.serving.metrics.render(), media_type="text/plain; version=0.0.4")
