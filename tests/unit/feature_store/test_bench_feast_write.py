"""`relstream bench feast-write`: the write paths timed into real Redis and SQLite stores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relstream.cli import build_parser


def test_bench_feast_write_times_every_path_on_both_stores(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["bench", "feast-write", "--rows", "50", "--repeats", "2", "--out", str(tmp_path)])
    assert args.func(args) == 0
    saved = json.loads((tmp_path / "bench-feast-write.json").read_text())
    paths = {"redis": ("Feast", "protos", "layout"), "sqlite": ("Feast", "protos")}
    if not shutil.which("redis-server"):
        del paths["redis"]
    rows = saved["rows"]
    assert [r["store"] for r in rows] == [s for s in paths for _ in range(2 * len(paths[s]))]
    kinds = {"Feast": "Feast store.push", "protos": "value protos", "layout": "Redis layout"}
    for store, names in paths.items():
        got = {(r["keys"], next(k for k, text in kinds.items() if text in r["path"]))
               for r in rows if r["store"] == store}
        assert got == {(k, p) for k in ("new", "existing") for p in names}
    for r in rows:
        assert r["rows"] == 50 and len(r["runs_rows_per_s"]) == 2 and r["rows_per_s"] > 0
        if r["path"].startswith("Feast"):
            assert r["ratio_vs_baseline"] == 1.0


def test_bench_feast_write_refuses_zero_rows() -> None:
    args = build_parser().parse_args(["bench", "feast-write", "--rows", "0"])
    with pytest.raises(SystemExit, match="at least 1"):
        args.func(args)
