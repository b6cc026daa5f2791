"""Fixtures of the serving tests: a registry with toy ONNX students and an app on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from relstream.tools.toy_models import publish_toy_model, vocabulary
from serving.app import create_app
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings

CATALOG_WORDS = (
    "stride runner 4 men's road running shoe breathable mesh black white size 10 women's "
    "pink 7 trailpeak nomad gtx waterproof hiking boot for men brown shoes boots category "
    "brand color gender"
)


@pytest.fixture(scope="session")
def toy_vocab() -> list[str]:
    return vocabulary([CATALOG_WORDS])


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory, toy_vocab: list[str]) -> Path:
    """Registry with `cross_encoder` v1 (word overlap) and v2 (random), `two_tower` v1."""
    root = tmp_path_factory.mktemp("registry")
    publish_toy_model(root, "cross_encoder", seed=1, vocab=toy_vocab, overlap_weight=1.0,
                      noise_weight=0.0)
    publish_toy_model(root, "cross_encoder", seed=2, vocab=toy_vocab)
    publish_toy_model(root, "two_tower", kind="two_tower", seed=3, vocab=toy_vocab)
    return root


@pytest.fixture
def settings(tmp_path: Path, registry: Path) -> ServingSettings:
    return ServingSettings(
        state_dir=tmp_path / "state", registry=registry, metrics_enabled=False,
        poll_interval_s=0, max_items=5, max_query_chars=40, max_body_bytes=4096,
        admin_token="s3cret",
    )


@pytest.fixture
def catalog(examples_dir: Path) -> MemoryItemLookup:
    return MemoryItemLookup.from_jsonl(examples_dir / "catalog.jsonl")


@pytest.fixture
def client(settings: ServingSettings, catalog: MemoryItemLookup) -> Iterator[TestClient]:
    with TestClient(create_app(settings, items=catalog)) as test_client:
        yield test_client
