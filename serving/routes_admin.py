"""The admin routes, `/admin/...`: A/B arms, loaded models, the A/B report and manual model
loads. Every route needs `Authorization: Bearer <admin_token>`; the router itself demands
it, so wherever it is included its routes stay guarded.
"""

from __future__ import annotations

import hmac
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query

from serving.ab_router import config_keys
from serving.api_models import ABConfig
from serving.app_context import Context
from serving.model_pool import TooManyModels

log = logging.getLogger(__name__)


async def require_admin(
    ctx: Context, authorization: Annotated[str | None, Header()] = None
) -> None:
    """403 while no admin_token is configured, 401 for a missing or wrong token."""
    token = ctx.settings.admin_token
    if not token:
        raise HTTPException(403, "admin endpoints are disabled (no admin_token configured)")
    # Constant-time comparison: how long a wrong token takes says nothing about how much
    # of it was right. Bytes, since compare_digest refuses non-ASCII str.
    expected = f"Bearer {token}".encode()
    if not hmac.compare_digest((authorization or "").encode(), expected):
        raise HTTPException(401, "admin endpoints need 'Authorization: Bearer <token>'")


# On the router, not on each route: a route added here later cannot forget the token.
# FastAPI solves it before the route's own parameters, as it did the per-route ones.
router = APIRouter(dependencies=[Depends(require_admin)])


@router.get("/admin/ab-config", response_model=ABConfig)
def get_ab_config(ctx: Context) -> ABConfig:
    return ctx.serving.router.config


@router.put("/admin/ab-config", response_model=ABConfig)
def put_ab_config(config: ABConfig, ctx: Context) -> ABConfig:
    st = ctx.serving
    try:
        # The new arms' models load before any user moves over (`create_app`'s load_arms);
        # TooManyModels past the pool's max_holders.
        st.pool.ensure(config_keys(config))
    except TooManyModels as exc:
        raise HTTPException(409, str(exc)) from exc
    st.router.set_config(config)
    st.pool.retain(config_keys(config))  # unload what no arm serves any more
    log.info("A/B config replaced: %s", config.model_dump())
    return config


@router.get("/admin/models")
def get_models(ctx: Context) -> dict[str, Any]:
    return ctx.serving.snapshot()


@router.get("/admin/ab-report",
            responses={404: {"description": "no requests of that experiment (or bad arm)"},
                       409: {"description": "this server writes no metrics"}})
def ab_report(
    ctx: Context, experiment: Annotated[str, Query(min_length=1, max_length=128)],
    pre_experiment: Annotated[str | None, Query(max_length=128)] = None,
    baseline: Annotated[str | None, Query(max_length=64)] = None,
    alpha: Annotated[float, Query(gt=0, lt=1)] = 0.05,
    min_requests: Annotated[int, Query(ge=0)] = 200,
) -> dict[str, Any]:
    """The A/B report computed here, by the process that owns the metrics tables: an
    embedded ClickHouse admits one process per path, so `relstream ab-report --server`
    asks the server instead of opening the path itself."""
    from serving.ab_report import ReportError, compute_report, read_label_gains

    settings, writer = ctx.settings, ctx.serving.writer
    if writer is None:
        raise HTTPException(409, "metrics are disabled on this server: nothing to report")
    writer.flush()  # what was served until now counts
    try:
        labels = (read_label_gains(settings.report_labels_path)
                  if settings.report_labels_path else None)
        report = compute_report(
            ctx.connect(), experiment,
            requests_table=settings.metrics_table, feedback_table=settings.feedback_table,
            labels=labels, pre_experiment=pre_experiment, baseline=baseline, alpha=alpha,
            min_requests=min_requests)
    except ReportError as exc:
        raise HTTPException(404, str(exc)) from exc
    except Exception as exc:  # ClickHouse down, tables not yet created, ...
        raise HTTPException(503, f"cannot compute the report: {exc}") from exc
    return report.to_json()


@router.post("/admin/models/{name}/load")
def load_model(name: str, version: Annotated[str, Query(pattern=r"^[0-9]{1,18}$")],
               ctx: Context) -> dict[str, Any]:
    holders = [h for h in ctx.serving.pool.holders() if h.name == name and h.follows_latest]
    if not holders:
        raise HTTPException(404, f"no arm serves the latest {name!r}")
    loaded = [h.load(version) or h.version == version for h in holders]
    if not all(loaded):
        raise HTTPException(409, f"loading {name} v{version} failed: "
                            f"{'; '.join(h.stats.last_error for h in holders)}")
    return {"name": name, "version": version}
