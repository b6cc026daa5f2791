"""Point-in-time correct training features: each example sees the features as of its own
label time, never later.

`training_features` is the one function the student trainer calls. For every example
row, each feature view of the student's feature service contributes its latest offline
row with `event_timestamp <= the example's event_timestamp`, no older than the view's
TTL; a view with no such row gives nulls. The rows come from the file offline store's
parquet part files (written by the stream processor, see `feature_store.offline`).

The join is `pandas.merge_asof` over those files rather than Feast's
`get_historical_features`: with Feast 0.67's file offline store, examples without a
match in one of the views were silently dropped, and a trainer must keep every label.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from feature_store.definitions import (
    ITEM_CONTENT,
    ITEM_STATS,
    PAIR_STATS,
    QUERY_STATS,
    STUDENT_SERVICES,
    TTL,
    join_keys,
    view_columns,
    view_dir,
)
from feature_store.errors import FeatureStoreError
from relstream.core.schemas import normalize_query

SERVICE_VIEWS: dict[str, tuple[str, ...]] = {
    "cross_encoder": (ITEM_CONTENT, QUERY_STATS, ITEM_STATS, PAIR_STATS),
    "two_tower": (ITEM_CONTENT, QUERY_STATS, ITEM_STATS),
}
"""Must match the feature services in `definitions.build_objects`."""
ROW = "__row"
TS_DTYPE = "datetime64[us, UTC]"


def training_features(data_dir: Path, examples: Any, service: str = "cross_encoder") -> Any:
    """Examples (a DataFrame with `query`, `item_id`, `event_timestamp` = label time, and
    any other columns) → the same rows, in the same order, with the service's features
    as of each row's time, named `<view>__<feature>` like Feast's full feature names.

    `data_dir` is the repo's offline data folder: `feature_store.config.repo_dir(s)/"data"`.
    """
    import pandas as pd

    if service not in STUDENT_SERVICES:
        raise FeatureStoreError(f"unknown feature service {service!r}; known: {STUDENT_SERVICES}")
    missing = {"query", "item_id", "event_timestamp"} - set(examples.columns)
    if missing:
        raise FeatureStoreError(f"examples lack the columns {sorted(missing)}")
    out = examples.copy()
    out[ROW] = range(len(out))
    out["query"] = out["query"].map(normalize_query)
    out["event_timestamp"] = pd.to_datetime(out["event_timestamp"], utc=True).astype(TS_DTYPE)
    out = out.sort_values("event_timestamp", kind="stable")
    for view in SERVICE_VIEWS[service]:
        out = _join_view(out, view, _read_view(data_dir, view))
    return out.sort_values(ROW).drop(columns=[ROW]).reset_index(drop=True)


def _read_view(data_dir: Path, view: str) -> Any:
    import pandas as pd

    from feature_store.offline import parts, read_offline

    if not parts(view_dir(data_dir, view)):
        raise FeatureStoreError(f"no offline parts in {view_dir(data_dir, view)}: run "
                                "`relstream features apply` and the stream processor first")
    df = read_offline(data_dir, view).to_pandas()
    df["event_timestamp"] = pd.to_datetime(df["event_timestamp"], utc=True).astype(TS_DTYPE)
    # Of two rows with the same key and time the later-written one wins (parts are read
    # in write order).
    keys = join_keys(view)
    df = df.drop_duplicates([*keys, "event_timestamp"], keep="last")
    return df.sort_values("event_timestamp", kind="stable")


def _join_view(left: Any, view: str, right: Any) -> Any:
    import pandas as pd

    keys = join_keys(view)
    features = view_columns(view)[len(keys) + 1:]
    right = right[[*keys, "event_timestamp", *features]].rename(
        columns={f: f"{view}__{f}" for f in features})
    if right.empty:
        for f in features:
            left[f"{view}__{f}"] = None
        return left
    return pd.merge_asof(left, right, on="event_timestamp", by=keys, direction="backward",
                         tolerance=pd.Timedelta(TTL), allow_exact_matches=True)
