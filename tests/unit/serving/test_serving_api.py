"""The serving contract (`shared/contracts/serving-api.md`), checked field by field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from relstream.core.schemas import CotSteps, DimensionCheck, TeacherInfo, TeacherLabel
from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.label_store import LabelStore
from serving.settings import ServingSettings


def test_score_has_every_contract_field(client: TestClient) -> None:
    body = {"query": "stride runner 4 mens black", "item_ids": ["sku-1001", "sku-2001"],
            "user_id": "u7", "request_id": "r123"}
    resp = client.post("/v1/score", json=body)
    assert resp.status_code == 200, resp.text
    out = resp.json()
    assert set(out) >= {"request_id", "arm", "model", "scores", "errors"}
    assert out["request_id"] == "r123"
    assert out["arm"] == "default"
    assert out["model"] == {"name": "cross_encoder", "version": "2"}
    assert len(out["scores"]) == 2
    assert all(0.0 <= s <= 1.0 for s in out["scores"])
    assert out["errors"] == []


def test_request_id_generated_and_user_optional(client: TestClient) -> None:
    out = client.post("/v1/score", json={"query": "hiking boot", "item_ids": ["sku-2001"]}).json()
    assert isinstance(out["request_id"], str) and len(out["request_id"]) >= 8
    other = client.post("/v1/score", json={"query": "hiking boot", "item_ids": ["sku-2001"]})
    assert other.json()["request_id"] != out["request_id"]


def test_unknown_item_is_null_and_named(client: TestClient) -> None:
    body = {"query": "running shoe", "item_ids": ["sku-1001", "nope-1", "sku-1002"]}
    out = client.post("/v1/score", json=body).json()
    assert out["scores"][1] is None
    assert out["scores"][0] is not None and out["scores"][2] is not None
    assert len(out["errors"]) == 1 and "nope-1" in out["errors"][0]


def test_inline_items_scored_without_lookup(client: TestClient, examples_dir: Path) -> None:
    lines = (examples_dir / "catalog.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines[:2]]
    items[1]["item_id"] = "not-in-catalog"  # inline items need no catalog entry
    items[1]["unknown_field"] = {"kept": True}  # unknown fields are ignored, not rejected
    out = client.post("/v1/score", json={"query": "stride runner", "items": items}).json()
    assert out["errors"] == [] and all(s is not None for s in out["scores"])


def test_inline_and_lookup_give_the_same_score(client: TestClient, examples_dir: Path) -> None:
    item = json.loads((examples_dir / "catalog.jsonl").read_text().splitlines()[0])
    a = client.post("/v1/score", json={"query": "stride black", "items": [item]}).json()
    b = client.post("/v1/score", json={"query": "stride black", "item_ids": [item["item_id"]]})
    assert a["scores"] == b.json()["scores"]


def test_malformed_bodies_name_the_field(client: TestClient) -> None:
    cases = [
        ({"item_ids": ["sku-1001"]}, "query"),
        ({"query": "x"}, "item_ids"),
        ({"query": "x", "item_ids": []}, "item_ids"),
        ({"query": "x", "item_ids": "sku-1001"}, "item_ids"),
        ({"query": 5, "item_ids": ["sku-1001"]}, "query"),
        ({"query": "   ", "item_ids": ["sku-1001"]}, "query"),
        ({"query": "x", "items": [{"item_id": "a"}]}, "items"),
    ]
    for body, field in cases:
        resp = client.post("/v1/score", json=body)
        assert resp.status_code in (400, 422), (body, resp.text)
        assert field in resp.json()["detail"], (body, resp.json()["detail"])
    bad_json = client.post("/v1/score", content=b"{not json",
                           headers={"content-type": "application/json"})
    assert bad_json.status_code in (400, 422) and "not valid JSON" in bad_json.json()["detail"]


def test_limits_give_413_with_a_message(client: TestClient) -> None:
    many = client.post("/v1/score", json={"query": "x", "item_ids": [f"i{k}" for k in range(6)]})
    assert many.status_code == 413 and "maximum of 5" in many.json()["detail"]
    long_query = client.post("/v1/score", json={"query": "q" * 41, "item_ids": ["sku-1001"]})
    assert long_query.status_code == 413 and "query" in long_query.json()["detail"]
    huge = client.post("/v1/score", content=b'{"query": "' + b"x" * 5000 + b'"}',
                       headers={"content-type": "application/json"})
    assert huge.status_code == 413 and "4096 bytes" in huge.json()["detail"]

    def streamed() -> Iterator[bytes]:  # no content-length: chunked transfer
        yield b'{"query": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'", "item_ids": ["sku-1001"]}'

    chunked = client.post("/v1/score", content=streamed(),
                          headers={"content-type": "application/json"})
    assert chunked.status_code == 413 and "4096 bytes" in chunked.json()["detail"]
    assert client.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001"]}).is_success


def test_no_model_gives_503_and_not_ready(tmp_path: Path, catalog: MemoryItemLookup) -> None:
    settings = ServingSettings(state_dir=tmp_path, registry=tmp_path / "empty",
                               metrics_enabled=False, poll_interval_s=0)
    with TestClient(create_app(settings, items=catalog)) as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 503
        resp = client.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001"]})
        assert resp.status_code == 503 and "cross_encoder" in resp.json()["detail"]


def test_health_ready_metrics_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["models"] == {"cross_encoder@latest": "2"}
    client.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001", "zz"]})
    text = client.get("/metrics").text
    assert 'relstream_serving_requests_total{arm="default",status="200"} 1.0' in text
    assert "relstream_serving_unknown_items_total 1.0" in text
    assert 'relstream_serving_model_info{model="cross_encoder",spec="latest",version="2"}' in text
    schema = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/explain", "/healthz", "/readyz"} <= set(schema["paths"])
    assert client.get("/docs").status_code == 200


def _label(query: str, item_id: str, grade_e: float) -> TeacherLabel:
    rest = (1 - grade_e) / 3
    return TeacherLabel(
        ts=datetime(2026, 3, 1, tzinfo=UTC), event_id=f"{query}-{item_id}", query=query,
        item_id=item_id, grade_probs={"E": grade_e, "S": rest, "C": rest, "I": rest},
        steps=CotSteps(query_analysis={"type": "running shoes", "brand": "stride"},
                       item_analysis={"type": "running shoes", "brand": "stride"},
                       checks=[DimensionCheck(dimension="brand", status="match",
                                              evidence=["stride"])], grade="E"),
        teacher=TeacherInfo(model="ellm-rele-test", version="3"),
    )


def test_explain_returns_the_teacher_label_or_404(
    settings: ServingSettings, catalog: MemoryItemLookup
) -> None:
    labels = LabelStore()
    labels.add([_label("Stride  Runner", "sku-1001", 0.7)])
    with TestClient(create_app(settings, items=catalog, labels=labels)) as client:
        resp = client.get("/v1/explain", params={"query": "stride runner", "item_id": "sku-1001"})
        assert resp.status_code == 200, resp.text
        out = resp.json()
        assert set(out) >= {"query", "item_id", "grade", "grade_probs", "steps", "teacher"}
        assert out["grade"] == "E" and set(out["grade_probs"]) == {"E", "S", "C", "I"}
        assert out["teacher"] == {"model": "ellm-rele-test", "version": "3"}
        assert out["steps"][0].startswith("Query:") and out["steps"][-1] == "Grade: E"
        missing = client.get("/v1/explain", params={"query": "other", "item_id": "sku-1001"})
        assert missing.status_code == 404
        assert client.get("/v1/explain", params={"query": "x"}).status_code == 422


def test_admin_needs_the_token(client: TestClient) -> None:
    assert client.get("/admin/ab-config").status_code == 401
    auth = {"Authorization": "Bearer s3cret"}
    assert client.get("/admin/ab-config", headers=auth).json()["arms"][0]["name"] == "default"
    config = {"salt": "s1", "default_arm": "A", "arms": [
        {"name": "A", "model": "cross_encoder", "version": "1", "share": 0.5},
        {"name": "B", "model": "cross_encoder", "version": "latest", "share": 0.5}]}
    assert client.put("/admin/ab-config", json=config).status_code == 401
    assert client.put("/admin/ab-config", json=config, headers=auth).status_code == 200
    seen = {}
    for k in range(40):
        out = client.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001"],
                                             "user_id": f"u{k}"}).json()
        seen[out["arm"]] = out["model"]["version"]
    assert seen == {"A": "1", "B": "2"}
    no_user = client.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001"]}).json()
    assert no_user["arm"] == "A"
    bad = dict(config, arms=[])
    assert client.put("/admin/ab-config", json=bad, headers=auth).status_code == 422


def test_arm_whose_model_never_loaded_falls_back_to_the_default(client: TestClient) -> None:
    auth = {"Authorization": "Bearer s3cret"}
    config = {"default_arm": "A", "arms": [
        {"name": "A", "model": "cross_encoder", "version": "1", "share": 0.5},
        {"name": "B", "model": "cross_encoder", "version": "99", "share": 0.5}]}
    assert client.put("/admin/ab-config", json=config, headers=auth).status_code == 200
    outs = [client.post("/v1/score", json={"query": "x", "item_ids": ["sku-1001"],
                                           "user_id": f"u{k}"}).json() for k in range(20)]
    assert {o["arm"] for o in outs} == {"A", "B"}
    assert {o["model"]["version"] for o in outs} == {"1"}
    models = client.get("/admin/models", headers=auth).json()["holders"]
    assert any(h["spec"] == "99" and h["version"] is None for h in models)
