"""A tiny world end to end: contract validity, determinism, labels, splits, CoTs."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from relstream.core.cot import parse_cot
from relstream.core.errors import ShopFileError
from relstream.core.schemas import CotSteps, SearchEvent, decode_search_log_line
from relstream.core.shop_files import (
    FILES,
    load_catalog,
    load_cot_annotations,
    load_labels,
    load_query_meta,
    load_scenario,
    load_splits,
)

World = Callable[..., Path]


def _events(world: Path) -> list:
    with (world / "search_log.jsonl").open(encoding="utf-8") as fh:
        return [decode_search_log_line(line) for line in fh]


def test_writes_every_file(make_world: World) -> None:
    world = make_world(seed=1)
    for name in FILES:
        assert (world / name).is_file(), name
    assert load_scenario(world)["counts"]["searches"] == 300


def test_same_seed_gives_byte_identical_files(make_world: World, tmp_path: Path) -> None:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    first = make_world(seed=1)
    again = simulate(SimConfig.tiny(tmp_path / "again", seed=1))
    for name in FILES:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name


def test_different_seeds_give_different_worlds(make_world: World) -> None:
    a, b = make_world(seed=1), make_world(seed=2)
    for name in ("catalog.jsonl", "search_log.jsonl", "labels.jsonl"):
        assert (a / name).read_bytes() != (b / name).read_bytes(), name


def test_search_log_follows_the_contract(make_world: World) -> None:
    world = make_world(seed=1)
    events = _events(world)
    catalog = load_catalog(world)
    assert len(catalog) == 500
    assert [e.ts for e in events] == sorted(e.ts for e in events)
    assert len({e.event_id for e in events}) == len(events)
    searches = [e for e in events if isinstance(e, SearchEvent)]
    assert len({s.request_id for s in searches}) == len(searches) == 300
    by_request = {s.request_id: s for s in searches}
    for e in events:
        if isinstance(e, SearchEvent):
            assert [r.position for r in e.results] == list(range(1, len(e.results) + 1))
            assert all(r.item_id in catalog for r in e.results)
            assert e.user_id.startswith("u")
        else:
            shown = by_request[e.request_id]
            assert e.ts >= shown.ts and e.user_id == shown.user_id
            assert e.item_id in {r.item_id for r in shown.results}
    assert {e.action for e in events if not isinstance(e, SearchEvent)} >= {"click"}


def test_every_shown_pair_is_labelled_and_grades_mix(make_world: World) -> None:
    world = make_world(seed=1)
    labels = load_labels(world)
    shown = {(e.query, r.item_id) for e in _events(world) if isinstance(e, SearchEvent)
             for r in e.results}
    assert shown <= set(labels)
    assert set(labels.values()) == {"E", "S", "C", "I"}


def test_splits_are_by_query_and_disjoint(make_world: World) -> None:
    world = make_world(seed=1)
    splits = load_splits(world)
    meta = load_query_meta(world)
    train, val, test = (set(splits[k]) for k in ("train", "validation", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(meta)
    assert set(splits["test_long_tail"]) <= test
    assert all(meta[q]["bucket"] == "tail" for q in splits["test_long_tail"])
    # all surface forms of one intent land in one split
    split_of_intent: dict[str, set[str]] = {}
    for m in meta.values():
        split_of_intent.setdefault(m["intent_key"], set()).add(m["split"])
    assert all(len(s) == 1 for s in split_of_intent.values())


def test_query_meta_has_kinds_and_buckets(make_world: World) -> None:
    meta = load_query_meta(make_world(seed=1))
    assert {m["bucket"] for m in meta.values()} == {"head", "torso", "tail"}
    assert {"bare_type", "multi_constraint"} <= {m["base_kind"] for m in meta.values()}
    assert all(m["intent"]["type"] for m in meta.values())


def test_cot_annotations_render_parse_and_agree_with_labels(make_world: World) -> None:
    world = make_world(seed=1)
    labels = load_labels(world)
    test_queries = set(load_splits(world)["test"])
    rows = load_cot_annotations(world)
    assert rows
    for row in rows:
        assert row["query"] not in test_queries and row["split"] in ("train", "validation")
        assert labels[(row["query"], row["item_id"])] == row["grade"]
        steps = CotSteps.model_validate(row["steps"])
        parsed = parse_cot(row["cot"])
        assert parsed.grade == row["grade"] == steps.grade
        assert [c.dimension for c in parsed.checks] == [c.dimension for c in steps.checks]
        assert parsed.checks[0].dimension == "type"
        if row["grade"] == "E":
            assert all(c.status == "match" for c in parsed.checks)


def test_loaders_name_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ShopFileError, match="labels.jsonl"):
        load_labels(tmp_path)
    (tmp_path / "labels.jsonl").write_text('{"query": "q", "item_id": "i", "grade": "X"}\n')
    with pytest.raises(ShopFileError, match="grade"):
        load_labels(tmp_path)


def test_scenario_json_shape(make_world: World) -> None:
    data = json.loads((make_world(seed=1) / "scenario.json").read_text())
    assert data["scenario"] == "steady" and data["change_at"] is None
    assert data["start"].endswith("Z") and data["end"] > data["start"]
