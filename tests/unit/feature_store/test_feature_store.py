"""Feast repo: apply, push and read back through the helpers, on SQLite and Redis."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feature_store.client import get_items, get_online, item_content_row, push_rows
from feature_store.config import FeatureStoreSettings, apply_repo, redis_connection_string
from feature_store.definitions import PAIR_STATS, QUERY_STATS, stat_fields, view_columns
from feature_store.errors import FeatureStoreError
from relstream.core.schemas import CatalogItem

TS = datetime(2026, 3, 1, 12, tzinfo=UTC)
ITEM = CatalogItem(item_id="sku-1", title="Stride Runner 4", category="Shoes > Running",
                   brand="Stride", attributes={"size": "10", "color": "black"}, price=89.99)


def _stats_row(view: str, **keys: str) -> dict:
    row = {**keys, "event_timestamp": TS}
    for k, f in enumerate(stat_fields(view)):
        row[f] = 0.25 if f.startswith("ctr") else k
    return row


def _roundtrip(settings: FeatureStoreSettings) -> None:
    store = apply_repo(settings)
    apply_repo(settings, store)  # idempotent
    push_rows(store, "item_content", [item_content_row(ITEM, TS)])
    push_rows(store, PAIR_STATS, [_stats_row(PAIR_STATS, query="stride runner", item_id="sku-1")])
    push_rows(store, QUERY_STATS, [_stats_row(QUERY_STATS, query="stride runner")])

    items = get_items(store, ["sku-1", "nope", "sku-1"])
    assert items == {"sku-1": ITEM, "nope": None}

    got = get_online(store, "  Stride RUNNER ", "sku-1")
    assert got["pair_stats__ctr_1h"] == 0.25
    assert got["pair_stats__impressions_1h"] == 0
    assert got["query_stats__searches_24h"] == stat_fields(QUERY_STATS).index("searches_24h")
    assert got["item_content__title"] == "Stride Runner 4"
    assert got["item_stats__clicks_1h"] is None  # never pushed
    _same_as_feasts_own_push(store)


def _same_as_feasts_own_push(store: object) -> None:
    """`push_rows` writes protos itself; Feast's `store.push` (pandas, pyarrow) must read
    back the same, counts past the small-int cache and an item without a price included."""
    import pandas as pd
    from feast.data_source import PushMode

    mine = {**_stats_row(PAIR_STATS, query="q", item_id="sku-a"), "clicks_24h": 5000}
    feasts = {**mine, "item_id": "sku-b"}
    push_rows(store, PAIR_STATS, [mine])
    store.push("pair_stats_push", pd.DataFrame([feasts]), to=PushMode.ONLINE)  # type: ignore[attr-defined]
    bare = ITEM.model_copy(update={"price": None, "brand": None, "item_id": "sku-c"})
    push_rows(store, "item_content", [item_content_row(bare, TS)])
    twin = item_content_row(bare.model_copy(update={"item_id": "sku-d"}), TS)
    store.push("item_content_push", pd.DataFrame([twin]), to=PushMode.ONLINE)  # type: ignore[attr-defined]

    def pair(item_id: str) -> dict:
        return {k: v for k, v in get_online(store, "q", item_id).items()  # type: ignore[arg-type]
                if k.startswith("pair_stats__")}

    assert pair("sku-a") == pair("sku-b") and pair("sku-a")["pair_stats__clicks_24h"] == 5000
    got = get_items(store, ["sku-c", "sku-d"])  # type: ignore[arg-type]
    assert got["sku-c"] == bare and got["sku-d"] == bare.model_copy(update={"item_id": "sku-d"})


@pytest.fixture(scope="module")
def sqlite_settings(tmp_path_factory: pytest.TempPathFactory) -> FeatureStoreSettings:
    return FeatureStoreSettings(state_dir=tmp_path_factory.mktemp("fs"), redis_url="")


def test_sqlite_roundtrip(sqlite_settings: FeatureStoreSettings) -> None:
    _roundtrip(sqlite_settings)
    repo = sqlite_settings.state_dir / "feature_repo"
    assert (repo / "online.db").exists() and (repo / "feature_store.yaml").exists()
    assert list((repo / "data" / "pair_stats").glob("part-*.parquet"))


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_roundtrip(tmp_path: Path) -> None:
    from relstream.stack import LocalStack, free_port

    settings = FeatureStoreSettings(state_dir=tmp_path,
                                    redis_url=f"redis://127.0.0.1:{free_port()}/0")
    stack = LocalStack(settings)
    stack.start_redis()
    try:
        _roundtrip(settings)
        # Redis keeps a row's newest version: an older row for the same key is skipped
        # (the stream processor's row times rely on it, streams/processor/aggregates.py)
        store = apply_repo(settings)
        older = {**_stats_row(QUERY_STATS, query="stride runner"), "searches_24h": 999,
                 "event_timestamp": datetime(2026, 3, 1, 11, tzinfo=UTC)}
        push_rows(store, QUERY_STATS, [older])
        assert get_online(store, "stride runner")["query_stats__searches_24h"] == (
            stat_fields(QUERY_STATS).index("searches_24h"))
    finally:
        stack.stop("redis")


def test_push_rejects_unknown_view(sqlite_settings: FeatureStoreSettings) -> None:
    with pytest.raises(FeatureStoreError, match="unknown feature view"):
        push_rows(object(), "nope", [{}])


def test_redis_connection_string() -> None:
    assert redis_connection_string("redis://127.0.0.1:6390/2") == "127.0.0.1:6390,db=2"
    assert redis_connection_string("redis://:pw@h:1") == "h:1,db=0,password=pw"
    with pytest.raises(FeatureStoreError, match="redis://"):
        redis_connection_string("http://h:1")


def test_columns_cover_join_keys() -> None:
    assert view_columns(PAIR_STATS)[:3] == ["query", "item_id", "event_timestamp"]
    assert "ctr_24h" in stat_fields("item_stats")


@pytest.fixture
def redis_store(tmp_path: Path) -> Iterator[tuple[Any, Any, Any]]:
    """(stack, Feast store, redis client) on a private redis-server, stopped after."""
    from relstream.stack import LocalStack, free_port

    settings = FeatureStoreSettings(state_dir=tmp_path,
                                    redis_url=f"redis://127.0.0.1:{free_port()}/0")
    stack = LocalStack(settings)
    stack.start_redis()
    try:
        store = apply_repo(settings)
        client = store.provider.online_store._get_client(store.config.online_store)
        yield stack, store, client
    finally:
        stack.stop("redis")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_rows_write_feasts_bytes(redis_store: tuple[Any, Any, Any],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`push_rows` on Redis builds Feast's hashes itself (`redis_rows`): the same batches
    written by Feast's own `online_write_batch` must leave every key, field and byte the
    same, staleness rule included (a stored newer row, two rows of one key in a batch, in
    two round trips: 2 rows per chunk here)."""
    from datetime import timedelta

    from feature_store.redis_rows import RedisRows, supports

    monkeypatch.setattr(RedisRows, "CHUNK", 2)
    stack, store, client = redis_store
    assert supports(store)
    later = TS + timedelta(seconds=1, microseconds=250)
    bare = ITEM.model_copy(update={"price": None, "brand": None, "item_id": "sku-ü",
                                   "title": "Läufer «2»"})
    batches = {
        "item_content": [[item_content_row(ITEM, TS), item_content_row(bare, TS)],
                         [item_content_row(bare.model_copy(update={"price": 3}), TS)]],
        PAIR_STATS: [
            [{**_stats_row(PAIR_STATS, query="q ä", item_id="a"), "clicks_24h": 5000},
             {**_stats_row(PAIR_STATS, query="q", item_id="b"), "ctr_1h": float("nan")}],
            # newer then older for one key in a batch; an older row for a stored key
            [{**_stats_row(PAIR_STATS, query="q", item_id="b"), "event_timestamp": later,
              "impressions_1h": -3},
             {**_stats_row(PAIR_STATS, query="q", item_id="b"), "impressions_1h": 7},
             {**_stats_row(PAIR_STATS, query="q ä", item_id="a"),
              "event_timestamp": TS - timedelta(hours=1), "clicks_24h": 1}]],
        QUERY_STATS: [[_stats_row(QUERY_STATS, query="q"),
                       {**_stats_row(QUERY_STATS, query="q"), "event_timestamp": later,
                        "searches_24h": 2 ** 40}]],
    }

    def dump() -> dict:
        return {k: client.hgetall(k) for k in client.keys("*")}

    def feasts(view: str, rows: list) -> None:  # Feast's online_write_batch
        push_rows(store, view, rows, direct=False)

    for write in (feasts, lambda view, rows: push_rows(store, view, rows)):
        for view, view_batches in batches.items():
            for rows in view_batches:
                write(view, rows)
        if write is feasts:
            theirs = dump()
            client.flushdb()
    ours = dump()
    assert theirs and ours == theirs
    got = get_online(store, "q", "b")
    assert got["pair_stats__impressions_1h"] == -3 and got["pair_stats__ctr_1h"] == 0.25

    # Redis gone: a clear error (the push process retries the rows); back: writes again
    stack.stop("redis")
    row = {**_stats_row(QUERY_STATS, query="after"), "searches_24h": 11}
    with pytest.raises(FeatureStoreError, match="pushing 1 rows to query_stats failed"):
        push_rows(store, QUERY_STATS, [row])
    stack.start_redis()
    push_rows(store, QUERY_STATS, [row])
    assert get_online(store, "after")["query_stats__searches_24h"] == 11


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_redis_rows_set_the_key_ttl_as_feast_does(redis_store: tuple[Any, Any, Any]
                                                 ) -> None:
    """With `key_ttl_seconds` in the store's config, Feast's writer expires each key it
    writes; the direct writes (their script) must too, and leave the same fields."""
    _, store, client = redis_store
    store.config.online_store.key_ttl_seconds = 3600
    rows = [_stats_row(PAIR_STATS, query="q", item_id=f"i{n}") for n in range(3)]
    push_rows(store, PAIR_STATS, rows, direct=False)  # Feast's own writer
    theirs = {k: (client.hgetall(k), client.ttl(k)) for k in client.keys("*")}
    client.flushdb()
    push_rows(store, PAIR_STATS, rows)
    ours = {k: (client.hgetall(k), client.ttl(k)) for k in client.keys("*")}
    assert len(ours) == 3 and ours.keys() == theirs.keys()
    for key, (fields, ttl) in ours.items():
        assert fields == theirs[key][0]
        assert 3500 < ttl <= 3600 and 3500 < theirs[key][1] <= 3600
