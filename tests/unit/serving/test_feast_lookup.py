"""Item content from the Feast online store (SQLite), by item_id, through the app."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from serving.app import create_app
from serving.item_lookup import FeastItemLookup, MemoryItemLookup
from serving.settings import ServingSettings


def test_feast_items_score_like_the_catalog(
    registry: Path, tmp_path: Path, examples_dir: Path, catalog: MemoryItemLookup
) -> None:
    from feature_store.client import item_content_row, push_rows
    from feature_store.config import apply_repo

    settings = ServingSettings(state_dir=tmp_path, registry=registry, redis_url="",
                               item_source="feast", metrics_enabled=False, poll_interval_s=0)
    store = apply_repo(settings)
    ids = ["sku-1001", "sku-2001", "sku-3001"]
    items = catalog.get_items(ids)
    push_rows(store, "item_content", [item_content_row(items[i], datetime.now(UTC))  # type: ignore[arg-type]
                                      for i in ids])
    assert FeastItemLookup(store).get_items([*ids, "nope"]) == {**items, "nope": None}
    body = {"query": "stride runner 4 mens black", "item_ids": [*ids, "nope"]}
    with TestClient(create_app(settings)) as client:  # the app opens the store itself
        from_feast = client.post("/v1/score", json=body).json()
    with TestClient(create_app(settings, items=catalog)) as client:
        from_memory = client.post("/v1/score", json=body).json()
    assert from_feast["scores"] == from_memory["scores"] and from_feast["scores"][3] is None
    assert len(from_feast["errors"]) == 1 and "nope" in from_feast["errors"][0]
