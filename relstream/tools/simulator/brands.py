"""Brands and their product lines: who sells which product types under which model names.

Brand names are built from the shop family's syllables with the world's seeded RNG, so
every seed has its own marketplace; each brand sells a few related product types, in one
to three lines with a few model generations each ("Glide 4", "Glide 5 Pro"): near-miss
models are what makes model queries hard.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from relstream.tools.simulator.errors import SimulatorError
from relstream.tools.simulator.family import Family
from relstream.tools.simulator.style import GENERAL_STYLE, BrandStyle, ModelStyle
from relstream.tools.simulator.taxonomy import ProductType


@dataclass(frozen=True)
class ProductModel:
    """One model of a brand's line: the `model` dimension of its items."""

    brand: str
    ptype: str
    line: str
    name: str  # display form, e.g. "Glide 5 Pro"

    @property
    def key(self) -> str:
        """Canonical model value (lower case), as intents and checks compare it."""
        return self.name.lower()

    @property
    def device_key(self) -> str:
        """What an accessory's `compatibility` names: brand and model, lower case."""
        return f"{self.brand} {self.name}".lower()


@dataclass(frozen=True)
class Brand:
    """A seller: its display name, home department and the product types it makes."""

    name: str
    department: str
    ptypes: tuple[str, ...]


def brand_names(rng: random.Random, n: int, taken: set[str] | None = None,
                style: BrandStyle = GENERAL_STYLE.brands) -> list[str]:
    """`n` distinct pronounceable brand names, none in `taken`."""
    seen = {t.split()[0].lower() for t in taken or ()}
    if n + len(seen) > style.capacity:
        raise SimulatorError(f"{n} brands wanted but this shop family's brand style makes "
                             f"only {style.capacity} names ({len(seen)} taken)")
    out: list[str] = []
    while len(out) < n:
        name = rng.choice(style.heads) + rng.choice(style.tails)
        if rng.random() < 0.25:
            name += rng.choice(style.extras)
        name = name.strip()
        base = name.split()[0].lower()
        # "Isowave" and "Isowave Gear" side by side would be two brands nobody can tell apart
        if base not in seen:
            seen.add(base)
            out.append(name)
    return out


def make_brands(rng: random.Random, n: int, family: Family) -> list[Brand]:
    """`family`'s brands: a home department and two to four product types, most from home."""
    tax = family.taxonomy
    by_dept: dict[str, list[ProductType]] = {d: [] for d in tax.departments}
    for t in tax.types:
        by_dept[t.department].append(t)
    brands = []
    for name in brand_names(rng, n, style=family.style.brands):
        dept = rng.choice(tax.departments)
        home = by_dept[dept]
        k = min(len(home), rng.randint(2, 4))
        picked = [t.key for t in rng.sample(home, k)]
        if rng.random() < 0.2:
            other = rng.choice(tax.types)
            if other.key not in picked:
                picked.append(other.key)
        brands.append(Brand(name, dept, tuple(picked)))
    # every type needs several sellers, or its queries would have no substitutes
    for t in tax.types:
        sellers = [b for b in brands if t.key in b.ptypes]
        while len(sellers) < 4:
            i = rng.randrange(len(brands))
            b = brands[i]
            if t.key not in b.ptypes:
                brands[i] = Brand(b.name, b.department, b.ptypes + (t.key,))
                sellers.append(brands[i])
    return brands


def make_models(rng: random.Random, brand: str, ptype: str,
                style: ModelStyle = GENERAL_STYLE.models) -> list[ProductModel]:
    """One to three lines with one to three generations each."""
    models = []
    for line in rng.sample(style.lines, rng.randint(1, 3)):
        gen = rng.randint(1, 12)
        for g in range(gen, gen + rng.randint(1, 3)):
            suffix = rng.choice(style.suffixes)
            models.append(ProductModel(brand, ptype, line, style.name(line, g, suffix)))
    return models
