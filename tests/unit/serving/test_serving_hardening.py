"""Serving's hardening: constant-time admin token, bounded model holders, bounded ids and
explain queries, duplicates scored once, finite A/B shares."""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

import serving.app
import serving.routes_admin
from serving.ab_router import ABConfigError, load_config
from serving.api_models import ABConfig
from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings

AUTH = {"Authorization": "Bearer s3cret"}


@pytest.fixture
def small(settings: ServingSettings, catalog: MemoryItemLookup) -> Iterator[TestClient]:
    tight = settings.model_copy(update={"max_holders": 3, "max_id_chars": 16})
    with TestClient(create_app(tight, items=catalog)) as client:
        yield client


def test_admin_token_is_compared_in_constant_time(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(serving.routes_admin.hmac, "compare_digest", spy)
    assert client.get("/admin/ab-config", headers={"Authorization": "Bearer nope"}
                      ).status_code == 401
    assert client.get("/admin/ab-config", headers=AUTH).status_code == 200
    assert client.get("/admin/ab-config").status_code == 401
    assert compared[:2] == [(b"Bearer nope", b"Bearer s3cret"), (b"Bearer s3cret",
                                                                  b"Bearer s3cret")]


def _config(version: str, extra: int = 0) -> dict[str, object]:
    arms = [{"name": "A", "model": "cross_encoder", "version": "latest", "share": 1},
            {"name": "B", "model": "cross_encoder", "version": version, "share": 1}]
    arms += [{"name": f"x{k}", "model": "two_tower", "version": str(k + 1), "share": 1}
             for k in range(extra)]
    return {"salt": "s", "default_arm": "A", "arms": arms}


def test_replaced_arms_unload_and_too_many_models_is_409(small: TestClient) -> None:
    pool = small.app.state.serving.pool  # type: ignore[attr-defined]
    for version in ("1", "2", "5", "6", "7", "8", "9"):
        assert small.put("/admin/ab-config", json=_config(version), headers=AUTH).is_success
        assert len(pool.holders()) == 2, [(h.name, h.spec) for h in pool.holders()]
    too_many = small.put("/admin/ab-config", json=_config("1", extra=2), headers=AUTH)
    assert too_many.status_code == 409 and "max_holders" in too_many.json()["detail"]
    assert small.get("/admin/ab-config", headers=AUTH).json()["arms"][1]["version"] == "9"
    assert len(pool.holders()) == 2
    # requests keep working on the current arms (B's v9 does not exist: default arm)
    out = small.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001"],
                                        "user_id": "u1"}).json()
    assert out["model"]["version"] == "2"


def test_admin_load_takes_only_a_decimal_version(client: TestClient) -> None:
    bad = client.post("/admin/models/cross_encoder/load", params={"version": "../../x/1"},
                      headers=AUTH)
    assert bad.status_code == 422
    assert client.post("/admin/models/cross_encoder/load", params={"version": "1"},
                       headers=AUTH).is_success


def test_ids_and_explain_inputs_are_bounded(small: TestClient) -> None:
    body = {"query": "x", "item_ids": ["sku-1001"]}
    for field, value in (("request_id", "r" * 17), ("user_id", "u" * 17)):
        resp = small.post("/v1/score", json={**body, field: value})
        assert resp.status_code == 413 and field in resp.json()["detail"]
    long_item = small.post("/v1/score", json={"query": "x", "item_ids": ["i" * 17]})
    assert long_item.status_code == 413 and "maximum of 16" in long_item.json()["detail"]
    assert small.post("/v1/score", json={**body, "request_id": "r" * 16}).is_success
    long_query = small.get("/v1/explain", params={"query": "q" * 41, "item_id": "sku-1001"})
    assert long_query.status_code == 413 and "maximum of 40" in long_query.json()["detail"]
    long_id = small.get("/v1/explain", params={"query": "q", "item_id": "i" * 17})
    assert long_id.status_code == 413
    assert small.get("/v1/explain", params={"query": "q", "item_id": "i"}).status_code == 404


def test_an_item_repeated_in_one_request_is_scored_once(client: TestClient) -> None:
    ids = ["sku-1001", "sku-1001", "sku-1002", "sku-1001", "nope"]
    out = client.post("/v1/score", json={"query": "stride runner", "item_ids": ids}).json()
    scores = out["scores"]
    assert scores[0] == scores[1] == scores[3] and scores[4] is None
    text = client.get("/metrics").text
    assert "relstream_serving_scored_items_total 2.0" in text


def test_infinite_or_huge_shares_are_refused(client: TestClient, tmp_path: Path) -> None:
    arms = [{"name": "A", "model": "cross_encoder", "share": float("inf")},
            {"name": "B", "model": "cross_encoder", "share": 1.0}]
    with pytest.raises(ValidationError, match="share"):
        ABConfig.model_validate({"arms": arms})
    path = tmp_path / "ab.json"
    path.write_text(json.dumps({"arms": arms}))  # json writes `Infinity`
    with pytest.raises(ABConfigError, match="share"):
        load_config(path)
    resp = client.put("/admin/ab-config", content=json.dumps({"arms": arms}), headers={
        **AUTH, "content-type": "application/json"})
    assert resp.status_code == 422 and "share" in resp.json()["detail"]
    arms[0]["share"] = 1e300
    with pytest.raises(ValidationError, match="share"):
        ABConfig.model_validate({"arms": arms})
