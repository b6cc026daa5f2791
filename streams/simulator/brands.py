"""Brands and their product lines: who sells which product types under which model names.

Brand names are built from syllables with the world's seeded RNG, so every seed has its
own marketplace; each brand sells a few related product types, in one to three lines
with a few model generations each ("Glide 4", "Glide 5 Pro"): near-miss models are what
makes model queries hard.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from streams.simulator.taxonomy import DEPARTMENTS, TYPES, ProductType

_HEADS = ("Vel", "Tor", "Zen", "Quar", "Lum", "Bri", "Kes", "Nor", "Ori", "Pax", "Stri", "Trai",
          "Vol", "Aur", "Cal", "Dra", "Eko", "Fen", "Gal", "Hal", "Iso", "Jun", "Kai", "Lyr",
          "Mar", "Nex", "Oma", "Pol", "Rho", "Sol", "Tam", "Ulm", "Ver", "Wyn", "Xan", "Yar",
          "Zo", "Alt", "Bo", "Cor")
_TAILS = ("ix", "ora", "ent", "ly", "wave", "peak", "line", "co", "ara", "on", "ux", "io",
          "ena", "tek", "vo", "ric", "sta", "mo", "den", "field")
LINE_WORDS = ("Glide", "Nomad", "Pulse", "Aero", "Flex", "Core", "Apex", "Drift", "Nova", "Echo",
              "Terra", "Swift", "Luna", "Orbit", "Ridge", "Summit", "Zephyr", "Atlas", "Vista",
              "Comet", "Breeze", "Vertex", "Prime", "Halo", "Edge", "Quest", "Sierra", "Aspen",
              "Fusion", "Pilot", "Rover", "Sonic", "Tempo", "Arc", "Bolt", "Cruz", "Dune")
SUFFIXES = ("", "", "", "Pro", "Lite", "Max", "Plus")


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


def brand_names(rng: random.Random, n: int, taken: set[str] | None = None) -> list[str]:
    """`n` distinct pronounceable brand names, none in `taken`."""
    seen = {t.split()[0].lower() for t in taken or ()}
    out: list[str] = []
    while len(out) < n:
        name = rng.choice(_HEADS) + rng.choice(_TAILS)
        if rng.random() < 0.25:
            name += rng.choice(("", " Labs", " Co", " Home", " Sport", " Gear"))
        name = name.strip()
        base = name.split()[0].lower()
        # "Isowave" and "Isowave Gear" side by side would be two brands nobody can tell apart
        if base not in seen:
            seen.add(base)
            out.append(name)
    return out


def make_brands(rng: random.Random, n: int) -> list[Brand]:
    """Brands with a home department and two to four product types, most from home."""
    by_dept: dict[str, list[ProductType]] = {d: [] for d in DEPARTMENTS}
    for t in TYPES:
        by_dept[t.department].append(t)
    brands = []
    for name in brand_names(rng, n):
        dept = rng.choice(DEPARTMENTS)
        home = by_dept[dept]
        k = min(len(home), rng.randint(2, 4))
        picked = [t.key for t in rng.sample(home, k)]
        if rng.random() < 0.2:
            other = rng.choice(TYPES)
            if other.key not in picked:
                picked.append(other.key)
        brands.append(Brand(name, dept, tuple(picked)))
    # every type needs several sellers, or its queries would have no substitutes
    for t in TYPES:
        sellers = [b for b in brands if t.key in b.ptypes]
        while len(sellers) < 4:
            i = rng.randrange(len(brands))
            b = brands[i]
            if t.key not in b.ptypes:
                brands[i] = Brand(b.name, b.department, b.ptypes + (t.key,))
                sellers.append(brands[i])
    return brands


def make_models(rng: random.Random, brand: str, ptype: str) -> list[ProductModel]:
    """One to three lines with one to three generations each."""
    models = []
    for line in rng.sample(LINE_WORDS, rng.randint(1, 3)):
        gen = rng.randint(1, 12)
        for g in range(gen, gen + rng.randint(1, 3)):
            suffix = rng.choice(SUFFIXES)
            models.append(ProductModel(brand, ptype, line, f"{line} {g} {suffix}".strip()))
    return models
