"""The file offline store's parquet files: their schema, creation and appends.

Every feature view's batch source is one parquet file under `<repo>/data`. `apply`
creates it empty (Feast cannot plan a query over a missing file); rows are appended in
batches by `append_offline` (used by the stream processor's offline flush and by tests).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feature_store.definitions import ITEM_CONTENT_FIELDS, join_keys, view_columns


def arrow_schema(view: str) -> Any:
    import pyarrow as pa

    fields = [pa.field(k, pa.string()) for k in join_keys(view)]
    fields.append(pa.field("event_timestamp", pa.timestamp("us", tz="UTC")))
    for name in view_columns(view)[len(fields):]:
        if name == "price" or name.startswith("ctr"):
            fields.append(pa.field(name, pa.float64()))
        elif name in ITEM_CONTENT_FIELDS:
            fields.append(pa.field(name, pa.string()))
        else:
            fields.append(pa.field(name, pa.int64()))
    return pa.schema(fields)


def ensure_batch_files(files: dict[str, Path]) -> None:
    """Create each missing batch-source file as an empty table with the view's schema."""
    import pyarrow.parquet as pq

    for view, path in files.items():
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            schema = arrow_schema(view)
            pq.write_table(schema.empty_table(), path)


def append_offline(path: Path, view: str, rows: Sequence[dict[str, Any]]) -> int:
    """Append rows to a view's parquet file (rewrites it: call with batches, not rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not rows:
        return 0
    schema = arrow_schema(view)
    new = pa.Table.from_pylist([{c: r.get(c) for c in schema.names} for r in rows],
                               schema=schema)
    table = pa.concat_tables([pq.read_table(path).cast(schema), new]) if path.exists() else new
    tmp = path.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)  # readers never see a half-written file
    return len(rows)
