"""Catalog invariants: every true value is visible in the item's text, titles vary."""

from __future__ import annotations

import random

from relstream.tools.simulator.brands import make_brands
from relstream.tools.simulator.catalog import build_catalog
from relstream.tools.simulator.families.general import GENERAL


def _catalog(seed: int = 5, n: int = 800) -> list:
    rng = random.Random(seed)
    items, _ = build_catalog(rng, n, make_brands(rng, 300, GENERAL), GENERAL)
    return items


def test_brands_are_distinct_and_many() -> None:
    brands = make_brands(random.Random(1), 320, GENERAL)
    assert len({b.name.split()[0].lower() for b in brands}) == 320
    assert all(2 <= len(b.ptypes) <= 5 for b in brands)


def test_every_true_value_is_stated_in_title_or_attributes() -> None:
    for item in _catalog():
        for dim, value in item.values.items():
            in_attrs = item.attributes.get(dim) == value
            assert in_attrs or item.surface[dim] in item.title, (item.title, dim, value)
        for f in item.features:
            in_attrs = f in item.attributes.get("feature", "").split(", ")
            assert in_attrs or item.surface[f"feature:{f}"] in item.title, (item.title, f)
        assert item.attributes.get("model") == item.model.name or item.model.name in item.title


def test_values_live_in_title_only_attributes_only_or_both() -> None:
    only_title = only_attrs = both = 0
    for item in _catalog():
        for dim, value in item.values.items():
            in_attrs = item.attributes.get(dim) == value
            in_title = item.surface[dim] in item.title and item.surface[dim] != value
            only_title += in_title and not in_attrs
            only_attrs += in_attrs and not in_title
            both += in_title and in_attrs
    assert min(only_title, only_attrs, both) > 100


def test_accessories_name_a_real_device() -> None:
    items = _catalog()
    for item in items:
        if item.type.accessory_of:
            assert item.compat is not None and item.compat.ptype == item.type.accessory_of
            assert item.values["compatibility"] == item.compat.device_key
