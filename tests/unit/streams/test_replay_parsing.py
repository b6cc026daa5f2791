"""Replay's file reading: ordering, keys, gzip, bad lines counted (no broker needed)."""

from __future__ import annotations

import filecmp
import gzip
import json
from pathlib import Path

from relstream.core.schemas import normalize_query
from streams.replay import ReplayStats, read_catalog, read_search_log


def test_examples_are_a_faithful_copy_of_the_contract(examples_dir: Path) -> None:
    shared = Path(__file__).resolve().parents[4] / "shared" / "contracts" / "examples"
    if shared.exists():
        for name in ("catalog.jsonl", "search_log.jsonl", "labels.jsonl"):
            assert filecmp.cmp(examples_dir / name, shared / name, shallow=False), name


def test_search_log_is_sorted_and_feedback_keyed_by_its_query(
    examples_dir: Path, tmp_path: Path
) -> None:
    lines = (examples_dir / "search_log.jsonl").read_text().splitlines()
    shuffled = tmp_path / "log.jsonl.gz"
    with gzip.open(shuffled, "wt") as fh:
        fh.write("\n".join(reversed(lines)) + "\n")
    stats = ReplayStats()
    read = read_search_log(shuffled, None, stats)
    assert [line.event.event_id for line in read] == ["e1", "e2", "e3", "e4"]
    assert [line.key for line in read] == [normalize_query("stride runner 4 mens black")] * 2 + [
        "waterproof hiking boots"] * 2
    assert stats.dead_lettered == 0


def test_bad_lines_are_counted_and_valid_ones_kept(examples_dir: Path, tmp_path: Path) -> None:
    good = (examples_dir / "search_log.jsonl").read_text().splitlines()
    bad = ['{"type": "search"', json.dumps({"type": "click", "event_id": "x"}), "[]"]
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join(good[:2] + bad + good[2:]) + "\n\n")
    stats = ReplayStats()
    read = read_search_log(path, None, stats)
    assert len(read) == 4
    assert stats.dead_lettered == 3


def test_catalog_duplicates_are_rejected(examples_dir: Path, tmp_path: Path) -> None:
    lines = (examples_dir / "catalog.jsonl").read_text().splitlines()
    path = tmp_path / "catalog.jsonl"
    path.write_text("\n".join(lines + lines[:1]) + "\n")
    stats = ReplayStats()
    items = read_catalog(path, None, stats)
    assert [i.item_id for i in items] == ["sku-1001", "sku-1002", "sku-2001", "sku-3001",
                                          "sku-4001"]
    assert stats.dead_lettered == 1 and "duplicate" in next(iter(stats.bad_reasons))


def test_a_request_searched_twice_is_keyed_by_its_last_search(
    examples_dir: Path, tmp_path: Path
) -> None:
    lines = [json.loads(x) for x in (examples_dir / "search_log.jsonl").read_text().splitlines()]
    again = {**lines[0], "event_id": "e1b", "ts": "2026-03-01T12:00:20.000Z",
             "query": "Trail  Shoes"}
    orphan = {**lines[1], "event_id": "e5", "request_id": "r-none"}
    path = tmp_path / "log.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in [*lines, again, orphan]) + "\n")
    read = read_search_log(path, None, ReplayStats())
    key_of = {line.event_id: line.key for line in read}
    assert key_of["e1"] == key_of["e2"] == key_of["e1b"] == "trail shoes"
    assert key_of["e3"] == key_of["e4"] == "waterproof hiking boots"
    assert key_of["e5"] == "r-none"
    assert [line.ts_ms for line in read] == sorted(line.ts_ms for line in read)
    assert read[0].event.event_id == "e1" and read[-1].type == "search"
