"""Cascade: the two-tower ranks every item, the cross-encoder rescores the top k, and the
tail keeps the first stage's order on the same scale, below every rescored item."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from serving.app import create_app
from serving.cascade import CascadeError, cascade_scores, top_k
from serving.item_lookup import MemoryItemLookup
from serving.settings import ServingSettings

ITEMS = ["sku-1001", "sku-1002", "sku-2001", "sku-3001", "sku-4001"]
QUERY = "stride runner 4 mens black shoe"


def test_hand_worked_cascade() -> None:
    first = [0.2, 0.9, 0.5, 0.8, 0.6]
    asked: list[list[int]] = []

    def rescore(idx: list[int]) -> list[float]:
        asked.append(idx)
        return [{1: 0.3, 3: 0.7}[i] for i in idx]

    scores, head = cascade_scores(first, rescore, k=2)
    assert head == [1, 3] and asked == [[1, 3]]  # only the two best went to the rescorer
    # floor = min(0.3, 0.7) = 0.3; tail max 0.6 > 0.3 → tail scaled by 0.3 / 0.6 = 0.5
    assert scores == pytest.approx([0.1, 0.3, 0.25, 0.7, 0.3])
    tail_order = sorted((0, 2, 4), key=lambda i: -scores[i])
    assert tail_order == [4, 2, 0]  # the first stage's order among the tail


def test_tail_already_below_the_head_is_left_alone() -> None:
    scores, _ = cascade_scores([0.1, 0.9, 0.2], lambda idx: [0.95 for _ in idx], k=1)
    assert scores == pytest.approx([0.1, 0.95, 0.2])


def test_k_at_least_n_is_the_cross_encoder_alone() -> None:
    scores, head = cascade_scores([0.3, 0.1], lambda idx: [0.5 + i for i in idx], k=5)
    assert sorted(head) == [0, 1] and scores == [0.5, 1.5]


def test_bad_k_and_bad_rescorer_are_errors() -> None:
    with pytest.raises(CascadeError, match="at least 1"):
        cascade_scores([0.1], lambda idx: [0.1], k=0)
    with pytest.raises(CascadeError, match="returned 1 scores"):
        cascade_scores([0.1, 0.2], lambda idx: [0.1], k=2)
    assert top_k([0.5, 0.7, 0.5], 2) == [1, 0]  # ties keep input order


@pytest.fixture
def cascade_client(settings: ServingSettings, catalog: MemoryItemLookup,
                   tmp_path: Path) -> TestClient:
    config = tmp_path / "ab.json"
    config.write_text("""{"experiment": "c", "default_arm": "cascade", "arms": [
        {"name": "ce", "model": "cross_encoder", "version": "1", "share": 0.5},
        {"name": "cascade", "model": "cross_encoder", "version": "1", "share": 0.5,
         "cascade": {"model": "two_tower", "rescore_k": 2}}]}""")
    app = create_app(settings.model_copy(update={"ab_config_path": config}), items=catalog)
    return TestClient(app)


def test_cascade_arm_rescores_the_first_stages_top_k(cascade_client: TestClient) -> None:
    with cascade_client as client:
        state = client.app.state.serving  # type: ignore[attr-defined]
        with state.pool.holder("two_tower").lease() as tt:
            first = tt.scorer.score(QUERY, _texts(state, ITEMS))
        with state.pool.holder("cross_encoder", "1").lease() as ce:
            alone = ce.scorer.score(QUERY, _texts(state, ITEMS))
        out = client.post("/v1/score", json={"query": QUERY, "item_ids": ITEMS}).json()
        assert out["arm"] == "cascade"
        assert out["model"] == {"name": "cross_encoder", "version": "1"}
        assert out["first_stage"] == {"name": "two_tower", "version": "1"}
        head = top_k(first, 2)
        scores = out["scores"]
        for i in range(len(ITEMS)):
            if i in head:
                assert scores[i] == pytest.approx(alone[i])  # the cross-encoder's own score
            else:
                assert scores[i] <= min(scores[j] for j in head) + 1e-12
        # per request k: all five rescored = the cross-encoder alone
        every = client.post("/v1/score", json={"query": QUERY, "item_ids": ITEMS,
                                               "rescore_k": 5}).json()
        assert every["scores"] == pytest.approx(alone)
        plain = client.post("/v1/score", json={"query": QUERY, "item_ids": ITEMS,
                                               "user_id": _user_in(state, "ce")}).json()
        assert plain["first_stage"] is None and plain["scores"] == pytest.approx(alone)


def test_cascade_without_a_loaded_first_stage_serves_the_cross_encoder(
    settings: ServingSettings, catalog: MemoryItemLookup, tmp_path: Path
) -> None:
    config = tmp_path / "ab.json"
    config.write_text("""{"arms": [{"name": "a", "model": "cross_encoder", "share": 1,
                          "cascade": {"model": "no_such_tower", "rescore_k": 1}}]}""")
    app = create_app(settings.model_copy(update={"ab_config_path": config}), items=catalog)
    with TestClient(app) as client:
        out = client.post("/v1/score", json={"query": QUERY, "item_ids": ITEMS[:3]})
        assert out.status_code == 200 and out.json()["first_stage"] is None
        assert all(s is not None for s in out.json()["scores"])
        state = client.app.state.serving  # type: ignore[attr-defined]
        assert state.snapshot()["cascade_fallbacks"] == 1


def _texts(state: object, ids: list[str]) -> list[str]:
    from serving.api_models import ScoreRequest

    _, texts, _ = state._texts(ScoreRequest(query=QUERY, item_ids=ids))  # type: ignore[attr-defined]
    return [t or "" for t in texts]


def _user_in(state: object, arm: str) -> str:
    router = state.router  # type: ignore[attr-defined]
    return next(u for u in (f"u{k}" for k in range(1000)) if router.arm_for(u).name == arm)


def test_item_embeddings_are_ready_before_requests_and_follow_the_catalog(
    cascade_client: TestClient, catalog: MemoryItemLookup
) -> None:
    from relstream.core.kafka_io import Consumed
    from relstream.core.schemas import CatalogEvent, CatalogItem, utcnow
    from serving.stream_followers import catalog_handler

    with cascade_client as client:
        state = client.app.state.serving  # type: ignore[attr-defined]
        with state.pool.holder("two_tower").lease() as tt:
            towers = tt.scorer.inner  # under the score cache
            assert towers.cache_misses == len(catalog) + 2  # the catalog, then the warm-up
            client.post("/v1/score", json={"query": QUERY, "item_ids": ITEMS})
            assert towers.cache_misses == len(catalog) + 2  # requests only hit the cache
            new = CatalogItem(item_id="sku-9", title="Kestrel trail runner green",
                              category="Shoes > Running Shoes", brand="Kestrel")
            consumed = Consumed(CatalogEvent(ts=utcnow(), item=new), record=None)  # type: ignore[arg-type]
            catalog_handler(catalog, state.pool)([consumed])
            assert towers.cache_misses == len(catalog) + 2 == 6 + 2
