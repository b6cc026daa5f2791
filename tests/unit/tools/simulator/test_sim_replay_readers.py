"""The files pass the same readers `relstream replay` uses, with nothing dead-lettered."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from streams.replay import ReplayStats, read_catalog, read_search_log


def test_replay_readers_accept_every_line(make_world: Callable[..., Path]) -> None:
    world = make_world(seed=3, scenario="new-brand", searches=600)
    stats = ReplayStats()
    items = read_catalog(world / "catalog.jsonl", None, stats)
    lines = read_search_log(world / "search_log.jsonl", None, stats)
    assert stats.dead_lettered == 0, stats.bad_reasons
    assert len(items) == sum(1 for _ in (world / "catalog.jsonl").open())
    assert len(lines) == sum(1 for _ in (world / "search_log.jsonl").open())
    # replay keys searches by normalised query: the simulator's queries are already normal
    assert all(line.key == line.event.query for line in lines if line.event.type == "search")
