"""The offline store's part files: one new file per append, read in write order, merged
past a cap without losing or reordering rows, old single-file repos carried over."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feature_store.config import FeatureStoreSettings, apply_repo, repo_dir
from feature_store.definitions import ITEM_STATS, VIEWS, stat_fields, view_dir
from feature_store.offline import (
    STALE_TMP_S,
    append_offline,
    arrow_schema,
    ensure_batch_dirs,
    parts,
    read_offline,
)
from feature_store.training import training_features

T = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _row(item: str, clicks: int, ts: datetime = T) -> dict:
    row = {"item_id": item, "event_timestamp": ts}
    row.update({f: 0.5 if f.startswith("ctr") else 0 for f in stat_fields(ITEM_STATS)})
    row["clicks_24h"] = clicks
    return row


def test_each_append_is_a_new_part_and_earlier_parts_are_untouched(tmp_path: Path) -> None:
    ensure_batch_dirs(tmp_path, VIEWS)
    directory = view_dir(tmp_path, ITEM_STATS)
    empty = parts(directory)
    assert len(empty) == 1 and pq.read_table(empty[0]).num_rows == 0
    first_bytes = empty[0].read_bytes()
    for n in range(3):
        assert append_offline(tmp_path, ITEM_STATS, [_row("a", n)]) == 1
    assert len(parts(directory)) == 4
    assert empty[0].read_bytes() == first_bytes  # an append never rewrites what exists
    assert read_offline(tmp_path, ITEM_STATS).column("clicks_24h").to_pylist() == [0, 1, 2]


def test_compaction_past_the_cap_keeps_every_row_in_write_order(tmp_path: Path) -> None:
    ensure_batch_dirs(tmp_path, VIEWS)
    for n in range(10):
        append_offline(tmp_path, ITEM_STATS, [_row("a", n), _row(f"b{n}", n)], max_parts=4)
    directory = view_dir(tmp_path, ITEM_STATS)
    assert len(parts(directory)) <= 4
    table = read_offline(tmp_path, ITEM_STATS)
    rows = list(zip(table.column("item_id").to_pylist(),
                    table.column("clicks_24h").to_pylist(), strict=True))
    assert rows == [r for n in range(10) for r in (("a", n), (f"b{n}", n))]


def test_the_later_written_row_wins_across_parts(tmp_path: Path) -> None:
    settings = FeatureStoreSettings(state_dir=tmp_path)
    apply_repo(settings)
    data = repo_dir(settings) / "data"
    append_offline(data, ITEM_STATS, [_row("a", 1)])
    append_offline(data, ITEM_STATS, [_row("a", 7)])  # same key and time, written later
    examples = pd.DataFrame({"query": ["q"], "item_id": ["a"],
                             "event_timestamp": [T + timedelta(minutes=5)]})
    out = training_features(data, examples, "two_tower")
    assert int(out["item_stats__clicks_24h"][0]) == 7


def test_a_single_file_repo_keeps_its_rows_and_hidden_files_are_ignored(tmp_path: Path
                                                                        ) -> None:
    legacy = tmp_path / f"{ITEM_STATS}.parquet"
    pq.write_table(pa.Table.from_pylist([_row("old", 3)], schema=arrow_schema(ITEM_STATS)),
                   legacy)
    directory = view_dir(tmp_path, ITEM_STATS)
    directory.mkdir()
    stale = directory / ".part-1-1.parquet.tmp"
    stale.write_bytes(b"not parquet: a writer killed half way")
    os.utime(stale, (time.time() - STALE_TMP_S - 1,) * 2)
    fresh = directory / ".part-2-2.parquet.tmp"
    fresh.write_bytes(b"a live writer's file")
    ensure_batch_dirs(tmp_path, [ITEM_STATS])
    assert not legacy.exists() and not stale.exists() and fresh.exists()
    append_offline(tmp_path, ITEM_STATS, [_row("new", 4)])
    assert read_offline(tmp_path, ITEM_STATS).column("item_id").to_pylist() == ["old", "new"]
