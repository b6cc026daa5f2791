"""Push rows into the feature views and read them back: the helpers other packages call.

Serving rebuilds catalog items with `get_items`; the stream processor writes with
`push_rows`; `get_online` is what `relstream features get` prints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feature_store.definitions import (
    ITEM_CONTENT,
    ITEM_CONTENT_FIELDS,
    PAIR_STATS,
    QUERY_STATS,
    VIEWS,
    push_source_name,
    stat_fields,
    view_columns,
)
from feature_store.errors import FeatureStoreError
from relstream.core.schemas import CatalogItem, normalize_query


def item_content_row(item: CatalogItem, ts: datetime) -> dict[str, Any]:
    """The `item_content` row for a catalog item (attributes as sorted JSON)."""
    return {
        "item_id": item.item_id, "event_timestamp": ts, "title": item.title,
        "category": item.category, "brand": item.brand or "",
        "attributes_json": json.dumps(item.attributes, sort_keys=True),
        "description": item.description or "", "price": item.price,
    }


def row_to_item(item_id: str, row: dict[str, Any]) -> CatalogItem | None:
    """Inverse of `item_content_row`; None when the store has no row for the item."""
    if row.get("title") is None:
        return None
    price = row.get("price")
    return CatalogItem(
        item_id=item_id, title=row["title"], category=row.get("category") or "",
        brand=row.get("brand") or None,
        attributes=json.loads(row.get("attributes_json") or "{}"),
        description=row.get("description") or None,
        price=None if price is None or price != price else float(price),  # NaN = absent
    )


def push_rows(store: Any, view: str, rows: Sequence[dict[str, Any]]) -> int:
    """Push rows (dicts with `view_columns(view)`) to the view's online store."""
    import pandas as pd
    from feast.data_source import PushMode

    if view not in VIEWS:
        raise FeatureStoreError(f"unknown feature view {view!r}; known: {VIEWS}")
    if not rows:
        return 0
    cols = view_columns(view)
    df = pd.DataFrame([{c: r.get(c) for c in cols} for r in rows], columns=cols)
    df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True)
    try:
        store.push(push_source_name(view), df, to=PushMode.ONLINE)
    except Exception as exc:
        raise FeatureStoreError(f"pushing {len(rows)} rows to {view} failed: {exc}") from exc
    return len(rows)


def get_items(store: Any, item_ids: Sequence[str]) -> dict[str, CatalogItem | None]:
    """Catalog items by id from the online store; None for an id never ingested."""
    if not item_ids:
        return {}
    unique = list(dict.fromkeys(item_ids))
    resp = store.get_online_features(
        features=[f"{ITEM_CONTENT}:{f}" for f in ITEM_CONTENT_FIELDS],
        entity_rows=[{"item_id": i} for i in unique],
    ).to_dict()
    out: dict[str, CatalogItem | None] = {}
    for k, item_id in enumerate(unique):
        out[item_id] = row_to_item(item_id, {f: resp[f][k] for f in ITEM_CONTENT_FIELDS})
    return out


def feature_refs(views: Sequence[str]) -> list[str]:
    refs = []
    for view in views:
        fields = ITEM_CONTENT_FIELDS if view == ITEM_CONTENT else stat_fields(view)
        refs += [f"{view}:{f}" for f in fields]
    return refs


def get_online(store: Any, query: str | None = None, item_id: str | None = None
               ) -> dict[str, Any]:
    """Every online feature for a query, an item, or a pair (full feature names)."""
    if query is None and item_id is None:
        raise FeatureStoreError("give a query, an item id, or both")
    row: dict[str, str] = {}
    views: list[str] = []
    if query is not None:
        row["query"] = normalize_query(query)
        views.append(QUERY_STATS)
    if item_id is not None:
        row["item_id"] = item_id
        views += [ITEM_CONTENT, "item_stats"]
    if query is not None and item_id is not None:
        views.append(PAIR_STATS)
    resp = store.get_online_features(
        features=feature_refs(views), entity_rows=[row], full_feature_names=True
    ).to_dict()
    return {k: v[0] for k, v in resp.items()}
