"""Drift scenarios: a brand launched mid-stream, a department trending, and steady."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

from relstream.core.schemas import SearchEvent, decode_search_log_line
from relstream.core.shop_files import load_catalog, load_labels, load_query_meta, load_scenario

World = Callable[..., Path]


def _searches(world: Path) -> list[SearchEvent]:
    with (world / "search_log.jsonl").open(encoding="utf-8") as fh:
        events = [decode_search_log_line(line) for line in fh]
    return [e for e in events if isinstance(e, SearchEvent)]


def test_new_brand_appears_only_after_the_launch(make_world: World) -> None:
    world = make_world(seed=3, scenario="new-brand", searches=600)
    info = load_scenario(world)
    change = info["change_at"]
    assert info["new_brand"] and info["new_brand_item_ids"] and info["new_brand_queries"]
    new_items = set(info["new_brand_item_ids"])
    new_queries = set(info["new_brand_queries"])
    before = [s for s in _searches(world) if s.ts.isoformat() < change.replace("Z", "+00:00")]
    after = [s for s in _searches(world) if s not in before]
    assert before and after
    assert not any(r.item_id in new_items for s in before for r in s.results)
    assert not any(s.query in new_queries for s in before)
    assert any(s.query in new_queries for s in after)
    catalog = load_catalog(world)
    assert all(catalog[i].brand == info["new_brand"] for i in new_items)
    assert all(getattr(catalog[i], "launched_at", None) == change for i in new_items)


def test_new_brand_query_grades_follow_the_rules(make_world: World) -> None:
    world = make_world(seed=3, scenario="new-brand", searches=600)
    info = load_scenario(world)
    catalog = load_catalog(world)
    meta = load_query_meta(world)
    brand = info["new_brand"].lower()
    checked = 0
    for (query, item_id), grade in load_labels(world).items():
        intent = meta[query]["intent"]
        if query not in info["new_brand_queries"] or set(intent) != {"type", "category", "brand"}:
            continue
        item = catalog[item_id]
        if item.category == intent["category"]:
            # a brand + type query: the brand's items are exact, other brands' substitutes
            assert grade == ("E" if (item.brand or "").lower() == brand else "S")
            checked += 1
    assert checked > 0


def test_trend_shift_moves_traffic_to_one_department(make_world: World) -> None:
    world = make_world(seed=4, scenario="trend-shift", searches=1500)
    info = load_scenario(world)
    dept, change = info["trend_department"], info["change_at"]
    meta = load_query_meta(world)
    share: dict[bool, Counter[bool]] = {True: Counter(), False: Counter()}
    for s in _searches(world):
        after = s.ts.isoformat() >= change.replace("Z", "+00:00")
        share[after][meta[s.query]["department"] == dept] += 1
    before_share = share[False][True] / sum(share[False].values())
    after_share = share[True][True] / sum(share[True].values())
    assert after_share > before_share * 1.5


def test_steady_has_no_change(make_world: World) -> None:
    info = load_scenario(make_world(seed=1))
    assert info["change_at"] is None and info["new_brand"] is None
    assert info["trend_department"] is None


def test_knockoffs_name_the_new_brand_but_are_never_exact(make_world: World) -> None:
    world = make_world(seed=3, scenario="new-brand", searches=600, knockoffs=1.0)
    info = load_scenario(world)
    fakes, real = info["knockoff_item_ids"], info["new_brand_item_ids"]
    assert len(fakes) == len(real)
    catalog = load_catalog(world)
    brand = info["new_brand"]
    launched = {(catalog[i].category, catalog[i].launched_at) for i in real}
    for item_id in fakes:
        item = catalog[item_id]
        # the title borrows the launched brand; the fields stay the seller's own
        assert brand in item.title and item.brand != brand, item
        assert item.attributes["model"] and (item.category, item.launched_at) in launched
    shown = [(q, i, g) for (q, i), g in load_labels(world).items()
             if q in info["new_brand_queries"] and i in set(fakes)]
    assert shown, "the retriever (titles only) shows knock-offs for the brand's queries"
    assert all(g != "E" for _, _, g in shown)
    # without knock-offs nothing changes: no ids listed, no config key (byte-identical worlds)
    plain = load_scenario(make_world(seed=3, scenario="new-brand", searches=600))
    assert "knockoff_item_ids" not in plain and "knockoffs" not in plain["config"]


def test_knockoffs_are_validated() -> None:
    import pytest

    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.errors import SimulatorError

    with pytest.raises(SimulatorError, match="knockoffs"):
        SimConfig.tiny(Path("/nonexistent"), scenario="new-brand", knockoffs=6)
