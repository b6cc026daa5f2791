"""Point-in-time retrieval: features as of each label's time, never later."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from feature_store.client import item_content_row
from feature_store.config import FeatureStoreSettings, apply_repo, repo_dir
from feature_store.definitions import ITEM_CONTENT, ITEM_STATS, PAIR_STATS, stat_fields
from feature_store.errors import FeatureStoreError
from feature_store.offline import append_offline
from feature_store.training import training_features
from relstream.core.schemas import CatalogItem

T1 = datetime(2026, 3, 1, 12, tzinfo=UTC)
T2 = T1 + timedelta(hours=2)


def _stats(view: str, ts: datetime, clicks: int, **keys: str) -> dict:
    row = {**keys, "event_timestamp": ts}
    row.update({f: 0.5 if f.startswith("ctr") else 0 for f in stat_fields(view)})
    row["clicks_24h"] = clicks
    return row


def test_features_as_of_label_time(tmp_path: Path) -> None:
    settings = FeatureStoreSettings(state_dir=tmp_path)
    apply_repo(settings)
    data = repo_dir(settings) / "data"
    item = CatalogItem(item_id="a", title="Thing", category="c")
    append_offline(data, ITEM_CONTENT,
                   [item_content_row(item, T1 - timedelta(days=1))])
    append_offline(data, ITEM_STATS,
                   [_stats(ITEM_STATS, T1, 1, item_id="a"),
                    _stats(ITEM_STATS, T2, 5, item_id="a")])
    append_offline(data, PAIR_STATS,
                   [_stats(PAIR_STATS, T2, 3, query="shoes", item_id="a")])

    examples = pd.DataFrame({
        "query": ["Shoes", "shoes", "shoes", "shoes"], "item_id": ["a"] * 4,
        "event_timestamp": [T1 - timedelta(minutes=1), T1 + timedelta(hours=1), T2,
                            T2 + timedelta(hours=1)],
        "label": [0, 1, 2, 3],
    })
    out = training_features(data, examples, "cross_encoder")
    assert list(out["label"]) == [0, 1, 2, 3]  # order kept
    clicks = [None if pd.isna(v) else int(v) for v in out["item_stats__clicks_24h"]]
    assert clicks == [None, 1, 5, 5]
    pair = [None if pd.isna(v) else int(v) for v in out["pair_stats__clicks_24h"]]
    assert pair == [None, None, 3, 3]
    assert list(out["item_content__title"]) == ["Thing"] * 4

    two_tower = training_features(data, examples, "two_tower")
    assert not any(c.startswith("pair_stats__") for c in two_tower.columns)


def test_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(FeatureStoreError, match="unknown feature service"):
        training_features(Path("."), pd.DataFrame(), "nope")
    with pytest.raises(FeatureStoreError, match="lack the columns"):
        training_features(Path("."), pd.DataFrame({"query": ["q"]}))
