"""The file offline store: each feature view's rows as parquet part files in a directory.

Every view's batch source is the directory `<repo>/data/<view>/`. A flush of the stream
processor writes its rows as one new part file (`part-<time ns>-<pid>.parquet`), so a
flush costs what it writes, not what was written before: the single file that was
rewritten on every append grew with the history, and so did the time of each flush.
`apply` puts one empty part in each directory (Feast plans a query from the files'
schema, so the directory must hold one). Readers take the parts in name order, which is
write order, so of two rows with the same key and time the later-written one wins.

Parts are merged (`compact_offline`) once a view has more than `max_parts` of them, so a
reader opens a bounded number of files. A merge writes every old part's rows into the
newest old part's name and then deletes the others: a crash in between leaves duplicate
rows (same key, time and values), which readers drop, never a lost one.

Files being written are hidden (`.part-….tmp`): pyarrow's dataset discovery, which
Feast uses on the directory, skips names starting with `.`, and the rename that
publishes a part is atomic.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from feature_store.definitions import ITEM_CONTENT_FIELDS, join_keys, view_columns, view_dir

MAX_PARTS = 64
"""Parts per view before `append_offline` merges them (a day of 30 s flushes is 2,880)."""


STALE_TMP_S = 600.0
"""A hidden part older than this is a dead writer's, removed by `ensure_batch_dirs`."""


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


def parts(directory: Path) -> list[Path]:
    """The published part files, oldest first."""
    return sorted(directory.glob("part-*.parquet"))


def _write_part(directory: Path, table: Any, name: str | None = None) -> Path:
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    name = name or f"part-{time.time_ns():020d}-{os.getpid()}.parquet"
    tmp = directory / f".{name}.tmp"
    pq.write_table(table, tmp)
    final = directory / name
    tmp.replace(final)  # readers never see a half-written part
    return final


def ensure_batch_dirs(data_dir: Path, views: Sequence[str]) -> None:
    """Give each view's directory a part to plan from: an empty table with its schema.

    A repo made before part files (one `<view>.parquet` per view) keeps its rows: the old
    file becomes the directory's first part.
    """
    for view in views:
        directory = view_dir(data_dir, view)
        for tmp in directory.glob(".part-*.tmp"):
            # Left by a writer that was killed (a live one finishes a part in seconds).
            if time.time() - tmp.stat().st_mtime > STALE_TMP_S:
                tmp.unlink(missing_ok=True)
        legacy = data_dir / f"{view}.parquet"
        if legacy.is_file() and not parts(directory):
            directory.mkdir(parents=True, exist_ok=True)
            legacy.replace(directory / f"part-{0:020d}-legacy.parquet")
        if not parts(directory):
            _write_part(directory, arrow_schema(view).empty_table(),
                        f"part-{0:020d}-empty.parquet")


def append_offline(data_dir: Path, view: str, rows: Sequence[dict[str, Any]],
                   max_parts: int = MAX_PARTS) -> int:
    """Write `rows` as a new part of the view (then merge if there are too many parts);
    returns how many rows were written."""
    import pyarrow as pa

    if not rows:
        return 0
    schema = arrow_schema(view)
    # Column lists, not a dict per row: the stream processor writes every pushed row here.
    table = pa.Table.from_pydict({c: [r.get(c) for r in rows] for c in schema.names},
                                 schema=schema)
    directory = view_dir(data_dir, view)
    _write_part(directory, table)
    if len(parts(directory)) > max_parts:
        compact_offline(data_dir, view)
    return len(rows)


def read_offline(data_dir: Path, view: str) -> Any:
    """Every row of the view, in write order (a pyarrow table with the view's schema)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = arrow_schema(view)
    tables = [pq.read_table(p).cast(schema) for p in parts(view_dir(data_dir, view))]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def compact_offline(data_dir: Path, view: str) -> int:
    """Merge every part of the view into one (named as the newest, so the order holds);
    returns how many parts were merged."""
    directory = view_dir(data_dir, view)
    old = parts(directory)
    if len(old) < 2:
        return 0
    merged = read_offline(data_dir, view)
    _write_part(directory, merged, old[-1].name)
    for path in old[:-1]:
        path.unlink(missing_ok=True)
    return len(old)
