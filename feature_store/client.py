"""Push rows into the feature views and read them back: the helpers other packages call.

Serving rebuilds catalog items with `get_items`; the stream processor writes with
`push_rows`; `get_online` is what `relstream features get` prints.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from feature_store.definitions import (
    ITEM_CONTENT,
    ITEM_CONTENT_FIELDS,
    PAIR_STATS,
    QUERY_STATS,
    VALUE_PROTO_FIELDS,
    VIEWS,
    stat_fields,
)
from feature_store.errors import FeatureStoreError
from feature_store.redis_rows import RedisRows
from feature_store.redis_rows import supports as redis_supports
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


class _ViewWriter:
    """What writing one view's rows needs, looked up once per store: the feature view, the
    proto field of each column, and the Value protos of small counts (most cells are
    0, 1, 2…; a proto is only read when the row is written, so one object serves many)."""

    SMALL_INTS = 1024

    def __init__(self, store: Any, view: str) -> None:
        from feast.protos.feast.types.EntityKey_pb2 import EntityKey
        from feast.protos.feast.types.Value_pb2 import Value

        self._key, self._value = EntityKey, Value  # imported once, not per row
        self.table = store.get_feature_view(view)
        self.keys = [c.name for c in self.table.entity_columns]
        self.columns = [(f.name, VALUE_PROTO_FIELDS[f.dtype.to_value_type().name])
                        for f in self.table.features]
        self._ints = [Value(int64_val=i) for i in range(self.SMALL_INTS)]

    def proto_row(self, row: dict[str, Any]) -> tuple[Any, dict[str, Any], datetime, None]:
        """One row as `online_write_batch` takes it: entity key, values, event time."""
        value = self._value
        key = self._key(join_keys=self.keys,
                        entity_values=[value(string_val=row[k]) for k in self.keys])
        values: dict[str, Any] = {}
        for name, kind in self.columns:
            v = row.get(name)
            if kind == "int64_val" and type(v) is int and 0 <= v < self.SMALL_INTS:
                values[name] = self._ints[v]
            elif v is None or (kind == "double_val" and v != v):
                values[name] = value()  # absent (NaN too: a missing price), read as None
            else:
                values[name] = value(**{kind: v})
        return key, values, row["event_timestamp"], None


_writers: WeakKeyDictionary[Any, dict[tuple[str, bool], _ViewWriter | RedisRows]] = \
    WeakKeyDictionary()


def push_rows(store: Any, view: str, rows: Sequence[dict[str, Any]],
              direct: bool = True) -> int:
    """Write rows (dicts with `view_columns(view)`, `event_timestamp` a timezone-aware
    datetime) to the view's online store; a row not newer than the stored one is skipped.

    Feast's own `store.push` gets there through a pandas frame, pyarrow and protobuf
    objects per cell: too slow for the stream processor's push process (`relstream bench
    feast-write`). On plain Redis the rows go in Feast's layout,
    built directly (`redis_rows`); on other stores, or with `direct=False`, as Value
    protos straight to the provider's `online_write_batch`, where Feast's push ends."""
    if view not in VIEWS:
        raise FeatureStoreError(f"unknown feature view {view!r}; known: {VIEWS}")
    if not rows:
        return 0
    try:
        direct = direct and redis_supports(store)
        views = _writers.setdefault(store, {})
        if (view, direct) not in views:
            views[view, direct] = RedisRows(store, view) if direct else _ViewWriter(store, view)
        writer = views[view, direct]
        if isinstance(writer, RedisRows):
            writer.write(rows)
        else:
            data = [writer.proto_row(r) for r in rows]
            store.provider.online_write_batch(store.config, writer.table, data, None)
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
