"""The Feast objects of relstream: entities, push sources, feature views, feature services.

Entities: `query` (the normalised query text, `relstream.core.schemas.normalize_query`) and
`item` (join key `item_id`). The stream processor pushes every row; each push source has
a parquet file under the repo as its batch source, which is where offline rows land and
where point-in-time training retrieval reads them. Statistic names repeat across views
(`clicks_1h` exists for items, queries and pairs), so reads use `full_feature_names=True`
and see `item_stats__clicks_1h`, `pair_stats__clicks_1h`, ...
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

WINDOWS: tuple[str, ...] = ("1h", "24h")
"""Window labels of the statistics; see docs/features.md for their exact meaning."""
COUNTS: tuple[str, ...] = ("impressions", "clicks", "add_to_carts", "purchases")
"""Counted per item, per query and per query–item pair, in each window."""
QUERY_COUNTS: tuple[str, ...] = ("searches", *COUNTS)

ITEM_CONTENT = "item_content"
ITEM_STATS = "item_stats"
QUERY_STATS = "query_stats"
PAIR_STATS = "pair_stats"
VIEWS: tuple[str, ...] = (ITEM_CONTENT, ITEM_STATS, QUERY_STATS, PAIR_STATS)
STUDENT_SERVICES: tuple[str, ...] = ("cross_encoder", "two_tower")
"""One feature service per student, named like the student."""

ITEM_CONTENT_FIELDS: tuple[str, ...] = (
    "title", "category", "brand", "attributes_json", "description", "price"
)
TTL = timedelta(days=30)
"""How far back point-in-time retrieval looks for a row; online reads ignore it."""


def push_source_name(view: str) -> str:
    """Each feature view is fed by exactly one push source, named after it."""
    return f"{view}_push"


def stat_fields(view: str) -> list[str]:
    """Names of the statistics a stats view holds, e.g. `clicks_1h`, `ctr_24h`."""
    counts = QUERY_COUNTS if view == QUERY_STATS else COUNTS
    return [f"{c}_{w}" for w in WINDOWS for c in (*counts, "ctr")]


def join_keys(view: str) -> list[str]:
    return {
        ITEM_CONTENT: ["item_id"], ITEM_STATS: ["item_id"],
        QUERY_STATS: ["query"], PAIR_STATS: ["query", "item_id"],
    }[view]


def view_columns(view: str) -> list[str]:
    """Every column a pushed row of `view` carries, join keys and timestamp included."""
    fields = list(ITEM_CONTENT_FIELDS) if view == ITEM_CONTENT else stat_fields(view)
    return [*join_keys(view), "event_timestamp", *fields]


@dataclass(frozen=True)
class FeastObjects:
    """Everything `apply` registers."""

    objects: list[Any]


def view_dir(data_dir: Path, view: str) -> Path:
    """The directory of a view's parquet part files: its Feast batch source (see
    `feature_store.offline`)."""
    return data_dir / view


def build_objects(data_dir: Path) -> FeastObjects:
    """Build the Feast definitions with batch sources under `data_dir` (imports feast)."""
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, PushSource
    from feast.types import Float64, Int64, String
    from feast.value_type import ValueType

    query = Entity(name="query", join_keys=["query"], value_type=ValueType.STRING,
                   description="normalised query text")
    item = Entity(name="item", join_keys=["item_id"], value_type=ValueType.STRING,
                  description="catalog item id")
    entities = {ITEM_CONTENT: [item], ITEM_STATS: [item], QUERY_STATS: [query],
                PAIR_STATS: [query, item]}

    objects: list[Any] = [query, item]
    views: dict[str, Any] = {}
    for view in VIEWS:
        batch = FileSource(name=f"{view}_batch", path=str(view_dir(data_dir, view)),
                           timestamp_field="event_timestamp")
        push = PushSource(name=push_source_name(view), batch_source=batch)
        if view == ITEM_CONTENT:
            schema = [Field(name=f, dtype=Float64 if f == "price" else String)
                      for f in ITEM_CONTENT_FIELDS]
        else:
            schema = [Field(name=f, dtype=Float64 if f.startswith("ctr") else Int64)
                      for f in stat_fields(view)]
        views[view] = FeatureView(
            name=view, entities=entities[view], ttl=TTL, schema=schema, source=push,
            online=True, description=_DESCRIPTIONS[view],
        )
        objects += [push, views[view]]

    objects.append(FeatureService(
        name="cross_encoder",
        features=[views[ITEM_CONTENT], views[QUERY_STATS], views[ITEM_STATS],
                  views[PAIR_STATS]],
        description="cross-encoder student: item text plus query, item and pair statistics",
    ))
    objects.append(FeatureService(
        name="two_tower",
        features=[views[ITEM_CONTENT], views[QUERY_STATS], views[ITEM_STATS]],
        description="two-tower student: item text plus query and item statistics (no pair "
        "features: the towers never see the pair together)",
    ))
    return FeastObjects(objects)


_DESCRIPTIONS = {
    ITEM_CONTENT: "catalog content needed to rebuild the item text (attributes as JSON)",
    ITEM_STATS: "impressions/clicks/add-to-carts/purchases and smoothed CTR per item",
    QUERY_STATS: "searches, impressions, feedback counts and smoothed CTR per query",
    PAIR_STATS: "impressions, feedback counts and smoothed CTR per query-item pair",
}

VALUE_PROTO_FIELDS = {"INT64": "int64_val", "DOUBLE": "double_val", "STRING": "string_val",
                      "FLOAT": "float_val", "INT32": "int32_val", "BOOL": "bool_val"}
"""Feast value type name → the `Value` proto field our views' columns are written to."""
