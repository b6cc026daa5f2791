"""Shop families: family 0 unchanged, every family a working world with its own words."""

from __future__ import annotations

import argparse
import hashlib
import random
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from relstream.cli import simulate as cli
from relstream.core.cot import parse_cot
from relstream.core.shop_files import (
    FILES,
    load_catalog,
    load_cot_annotations,
    load_labels,
    load_query_meta,
    load_scenario,
)
from relstream.tools.simulator.brands import make_brands
from relstream.tools.simulator.catalog import SimItem, build_catalog
from relstream.tools.simulator.config import SimConfig
from relstream.tools.simulator.errors import SimulatorError
from relstream.tools.simulator.families import FAMILIES, get_family
from relstream.tools.simulator.ground_truth import judge
from relstream.tools.simulator.queries import Intent
from relstream.tools.simulator.vocab import vocab_overlaps
from relstream.tools.simulator.world import simulate

World = Callable[..., Path]
OTHER_FAMILIES = [f.id for f in FAMILIES if f.id]

# sha256 over (file name, file bytes) of every file, sorted by name, of worlds built at
# commit f204150, before shop families existed; family 0 must keep writing exactly these
BEFORE_FAMILIES = {
    (("seed", 3),): "76e8550090e45f5555e15d32da4d147566f89feb0215f50d7c47aa4bd1455cda",
    (("scenario", "new-brand"), ("seed", 5)):
        "ef2089a405b9087892e89e614e6b40ef3c067a8e13a40005be43e2147711c456",
    (("scenario", "trend-shift"), ("seed", 7)):
        "0db98f831705ce489704bbff1e2a6bf2a025b7dfcca8942616ddd36dda49be07",
}


def _digest(world: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(world.iterdir()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("args", sorted(BEFORE_FAMILIES))
def test_family_0_worlds_are_byte_identical_to_before_families(args: tuple,
                                                               make_world: World) -> None:
    assert _digest(make_world(**dict(args))) == BEFORE_FAMILIES[args]
    # naming family 0 explicitly is the same world
    assert _digest(make_world(**dict(args), family=0)) == BEFORE_FAMILIES[args]


def test_at_least_five_other_families_with_real_tables() -> None:
    assert len(OTHER_FAMILIES) >= 5
    assert [f.id for f in FAMILIES] == list(range(len(FAMILIES)))
    for fam in FAMILIES[1:]:
        tax = fam.taxonomy
        assert 15 <= len(tax.types) <= 30, fam.name
        assert len(tax.departments) >= 4, fam.name
        # most types have complements (the general family: 31 of 53)
        paired = sum(1 for t in tax.types if tax.complements_of(t))
        assert paired >= 0.75 * len(tax.types), fam.name
        assert len({t.family for t in tax.types if t.family}) >= 2, fam.name
        assert tax.device_types, fam.name  # at least one device/accessory pair
        assert any(t.synonyms for t in tax.types), fam.name
        # enough brand names for the default 320 brands plus a launched one
        assert fam.style.brands.capacity > 400, fam.name
    keys = [t.key for f in FAMILIES for t in f.taxonomy.types]
    assert len(keys) == len(set(keys)), "product type keys are unique across families"


def test_families_by_id_and_name() -> None:
    assert get_family(2) is get_family("pets_garden") is get_family("2")
    with pytest.raises(SimulatorError, match="family"):
        get_family(99)
    with pytest.raises(SimulatorError, match="family"):
        SimConfig(out=Path("x"), family=len(FAMILIES))


def test_title_vocabularies_barely_overlap() -> None:
    overlaps = vocab_overlaps(seed=0, items=1500)
    assert len(overlaps) == len(FAMILIES) * (len(FAMILIES) - 1) // 2
    # measured 0.038-0.054 (2000 items); numbers and "for", "pack", "oz" are most of it
    assert max(overlaps.values()) < 0.15, overlaps


@pytest.mark.parametrize("family", OTHER_FAMILIES)
def test_each_family_builds_a_deterministic_world_with_all_grades(
        family: int, make_world: World, tmp_path: Path) -> None:
    world = make_world(seed=3, family=family)
    again = simulate(SimConfig.tiny(tmp_path / "again", seed=3, family=family))
    for name in FILES:
        assert (world / name).read_bytes() == (again / name).read_bytes(), name
    grades = Counter(load_labels(world).values())
    assert set(grades) == {"E", "S", "C", "I"}, grades
    info = load_scenario(world)
    assert (info["family"], info["family_name"]) == (family, get_family(family).name)
    assert info["config"]["family"] == family
    # its own catalog: none of family 0's categories
    general = {t.path for t in FAMILIES[0].taxonomy.types}
    assert not {item.category for item in load_catalog(world).values()} & general


@pytest.mark.parametrize("family", OTHER_FAMILIES)
def test_family_worlds_differ_from_the_same_seed_of_family_0(family: int,
                                                             make_world: World) -> None:
    a, b = make_world(seed=3), make_world(seed=3, family=family)
    for name in ("catalog.jsonl", "search_log.jsonl", "labels.jsonl"):
        assert (a / name).read_bytes() != (b / name).read_bytes(), name


def _catalog(family: int, n: int = 600) -> list[SimItem]:
    fam = get_family(family)
    rng = random.Random(f"test-families/{family}")
    items, _ = build_catalog(rng, n, make_brands(rng, 120, fam), fam)
    return items


@pytest.mark.parametrize("family", OTHER_FAMILIES)
def test_every_true_value_is_visible_in_every_family(family: int) -> None:
    for item in _catalog(family):
        for dim, value in item.values.items():
            assert item.attributes.get(dim) == value or item.surface[dim] in item.title, (
                item.title, dim, value)
        for f in item.features:
            in_attrs = f in item.attributes.get("feature", "").split(", ")
            assert in_attrs or item.surface[f"feature:{f}"] in item.title, (item.title, f)
        assert item.attributes.get("model") == item.model.name or item.model.name in item.title


@pytest.mark.parametrize("family", [f.id for f in FAMILIES])
def test_ground_truth_is_sane_in_every_family(family: int) -> None:
    items = _catalog(family)
    tax = get_family(family).taxonomy
    for item in items:
        own = [(d, v) for d, v in item.values.items()] + [("feature", f) for f in item.features]
        own += [("brand", item.brand.lower()), ("model", item.model.key)]
        intent = Intent(item.ptype, tuple(sorted(own)))
        assert judge(intent, item).grade == "E", (item.title, intent)
        assert judge(Intent(item.ptype), item).grade == "E"
        for other in tax.complements_of(item.type):
            assert judge(Intent(other), item).grade == "C", (other, item.ptype)
    # accessories: right device C, another model of the device type I
    accessories = [i for i in items if i.compat is not None]
    assert accessories
    for acc in accessories[:50]:
        c = acc.compat
        assert c is not None
        fits = Intent(c.ptype, (("brand", c.brand.lower()), ("model", c.key)))
        assert judge(fits, acc).grade == "C"
        wrong = Intent(c.ptype, (("brand", c.brand.lower()), ("model", c.key + " x")))
        assert judge(wrong, acc).grade == "I"


@pytest.mark.parametrize("family", OTHER_FAMILIES)
def test_family_cots_parse_and_agree_with_labels(family: int, make_world: World) -> None:
    world = make_world(seed=3, family=family)
    labels = load_labels(world)
    rows = load_cot_annotations(world)
    assert rows
    for row in rows:
        assert labels[(row["query"], row["item_id"])] == row["grade"]
        parsed = parse_cot(row["cot"])
        assert parsed.grade == row["grade"] and parsed.checks[0].dimension == "type"


@pytest.mark.parametrize("family", OTHER_FAMILIES)
def test_scenarios_work_in_every_family(family: int, make_world: World) -> None:
    world = make_world(seed=4, scenario="new-brand", searches=600, family=family)
    info = load_scenario(world)
    assert info["new_brand"] and info["new_brand_item_ids"]
    catalog = load_catalog(world)
    launch_paths = {get_family(family).taxonomy.by_key[k].path
                    for k in get_family(family).launch_types}
    assert set(info["new_brand_types"]) <= launch_paths
    assert all(catalog[i].brand == info["new_brand"] for i in info["new_brand_item_ids"])
    trend = make_world(seed=4, scenario="trend-shift", family=family)
    dept = load_scenario(trend)["trend_department"]
    assert dept in get_family(family).taxonomy.departments
    assert dept in {m["department"] for m in load_query_meta(trend).values()}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="relstream")
    commands = parser.add_subparsers(dest="command")
    cli.register(commands, argparse.ArgumentParser().add_subparsers())
    return parser


def test_cli_family_flag_and_overlap_table(tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    args = _parser().parse_args(["simulate", "--out", str(tmp_path / "w"), "--items", "300",
                                 "--searches", "120", "--family", "grocery"])
    assert args.func(args) == 0
    assert load_scenario(tmp_path / "w")["family_name"] == "grocery"
    args = _parser().parse_args(["simulate", "--stats", str(tmp_path / "w"), "--no-baseline"])
    assert args.func(args) == 0
    assert "| shop family | 1 grocery |" in capsys.readouterr().out
    args = _parser().parse_args(["simulate", "--family-overlap", "--items", "300"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert all(f.name in out for f in FAMILIES)
