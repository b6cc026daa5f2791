"""`relstream bench feast-write`: both write paths timed into real Redis and SQLite stores."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relstream.cli import build_parser


def test_bench_feast_write_times_both_paths_on_both_stores(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["bench", "feast-write", "--rows", "50", "--repeats", "2", "--out", str(tmp_path)])
    assert args.func(args) == 0
    saved = json.loads((tmp_path / "bench-feast-write.json").read_text())
    stores = ["redis", "sqlite"] if shutil.which("redis-server") else ["sqlite"]
    rows = saved["rows"]
    assert [r["store"] for r in rows] == [s for s in stores for _ in range(4)]
    assert {(r["keys"], r["path"].split(" ")[0]) for r in rows} == {
        (k, p) for k in ("new", "existing") for p in ("Feast", "push_rows")}
    for r in rows:
        assert r["rows"] == 50 and len(r["runs_rows_per_s"]) == 2 and r["rows_per_s"] > 0
        if r["path"].startswith("Feast"):
            assert r["ratio_vs_baseline"] == 1.0


def test_bench_feast_write_refuses_zero_rows() -> None:
    args = build_parser().parse_args(["bench", "feast-write", "--rows", "0"])
    with pytest.raises(SystemExit, match="at least 1"):
        args.func(args)
