"""Serving follows the real topics: model updates hot-swap, teacher labels feed /v1/explain,
new catalog items become scorable."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relstream.core import topics
from relstream.core.kafka_io import EventProducer
from relstream.core.manifest import manifest_sha256
from relstream.core.registry import version_dir
from relstream.core.schemas import (
    CatalogEvent,
    CatalogItem,
    CotSteps,
    ModelUpdate,
    TeacherInfo,
    TeacherLabel,
)
from relstream.core.settings import CommonSettings
from relstream.tools.toy_models import publish_toy_model
from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings

pytestmark = pytest.mark.integration


def _wait(condition: Callable[[], bool], what: str, timeout_s: float = 45.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def _update(root: Path, version: str, sha: str | None = None) -> ModelUpdate:
    return ModelUpdate(
        ts=datetime.now(UTC), event_id=uuid.uuid4().hex, name="cross_encoder", version=version,
        artifact_uri=str(root / "cross_encoder" / version),
        sha256=sha or manifest_sha256(version_dir(root, "cross_encoder", version)),
    )


def test_model_updates_and_teacher_labels_from_kafka(
    stack_settings: CommonSettings, examples_dir: Path, tmp_path: Path
) -> None:
    root = tmp_path / "registry"
    publish_toy_model(root, "cross_encoder", seed=1)
    settings = ServingSettings(
        **{**stack_settings.model_dump(), "registry": root}, poll_interval_s=0,
        consume_model_updates=True, consume_teacher_labels=True, consume_catalog=True,
        metrics_enabled=False,
    )
    producer = EventProducer(settings, client_id="serving-test")
    catalog = MemoryItemLookup.from_jsonl(examples_dir / "catalog.jsonl")
    with TestClient(create_app(settings, items=catalog)) as http:
        holder = http.app.state.serving.pool.holders()[0]  # type: ignore[attr-defined]
        assert holder.version == "1"
        v2 = publish_toy_model(root, "cross_encoder", seed=2)
        producer.send(topics.MODEL_UPDATES, _update(root, v2), key="cross_encoder")
        producer.send_raw(topics.MODEL_UPDATES, b"{not an event", key="cross_encoder")
        producer.flush()
        _wait(lambda: holder.version == v2, "the model update to load v2")
        body = {"query": "stride runner", "item_ids": ["sku-1001"]}
        assert http.post("/v1/score", json=body).json()["model"]["version"] == v2

        v3 = publish_toy_model(root, "cross_encoder", seed=3)
        producer.send(topics.MODEL_UPDATES, _update(root, v3, sha="f" * 64), key="cross_encoder")
        producer.flush()
        _wait(lambda: holder.stats.failures == 1, "the bad update to be refused")
        assert holder.version == v2 and "model-update event" in holder.stats.last_error

        label = TeacherLabel(
            ts=datetime.now(UTC), event_id="l1", query="Stride Runner 4 mens black",
            item_id="sku-1001", grade_probs={"E": 0.85, "S": 0.1, "C": 0.03, "I": 0.02},
            steps=CotSteps(query_analysis={"brand": "stride"}, item_analysis={"brand": "stride"},
                           grade="E"),
            teacher=TeacherInfo(model="ellm-rele", version="1"),
        )
        producer.send(topics.TEACHER_LABELS, label, key=label.pair_key)
        producer.flush()
        params = {"query": "stride runner 4 mens black", "item_id": "sku-1001"}
        _wait(lambda: http.get("/v1/explain", params=params).status_code == 200,
              "the teacher label to reach /v1/explain")
        out = http.get("/v1/explain", params=params).json()
        assert out["grade"] == "E" and out["grade_probs"]["E"] == pytest.approx(0.85)

        new = {"query": "voltix charger", "item_ids": ["sku-new"]}
        assert http.post("/v1/score", json=new).json()["scores"] == [None]
        item = CatalogItem(item_id="sku-new", title="Voltix 65W USB-C Charger",
                           category="Electronics > Chargers", brand="Voltix")
        producer.send(topics.CATALOG, CatalogEvent(ts=datetime.now(UTC), item=item),
                      key=item.item_id)
        producer.flush()
        _wait(lambda: http.post("/v1/score", json=new).json()["scores"] != [None],
              "the new catalog item to become scorable")
    producer.close()
