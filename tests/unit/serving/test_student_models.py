"""Serving reads what `student_trainer` exports: tiny random-weight students of both kinds."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings


@pytest.fixture(scope="module")
def student_registry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relstream.core.registry import publish
    from student_trainer.export import export_tiny_model

    root = tmp_path_factory.mktemp("students")
    for kind in ("cross_encoder", "two_tower"):
        stage = tmp_path_factory.mktemp(f"stage-{kind}")
        export_tiny_model(stage, kind, seed=0)
        publish(root, stage, kind)
    return root


@pytest.mark.parametrize("kind", ["cross_encoder", "two_tower"])
def test_exported_students_serve(
    kind: str, student_registry: Path, tmp_path: Path, catalog: MemoryItemLookup
) -> None:
    settings = ServingSettings(state_dir=tmp_path, registry=student_registry,
                               model_name=kind, metrics_enabled=False, poll_interval_s=0)
    with TestClient(create_app(settings, items=catalog)) as client:
        body = {"query": "stride runner 4 mens black",
                "item_ids": ["sku-1001", "sku-1002", "sku-2001", "missing"]}
        out = client.post("/v1/score", json=body).json()
        assert out["model"] == {"name": kind, "version": "1"}
        assert [s is None for s in out["scores"]] == [False, False, False, True]
        assert all(0 <= s <= 1 for s in out["scores"][:3])
        again = client.post("/v1/score", json=body).json()  # two-tower: cached item embeddings
        assert again["scores"] == pytest.approx(out["scores"])
