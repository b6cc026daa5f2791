"""How far apart the shop families' words are: Jaccard overlap of title-token vocabularies.

`family_vocab` builds one family's brands and catalog (no traffic, a fraction of a second)
and collects the tokens of every title; `vocab_overlaps` gives |A ∩ B| / |A ∪ B| for every
pair of families. `relstream simulate --family-overlap` prints the table.
"""

from __future__ import annotations

import random
from itertools import combinations

from relstream.tools.simulator.brands import make_brands
from relstream.tools.simulator.catalog import build_catalog
from relstream.tools.simulator.families import FAMILIES, get_family
from relstream.tools.simulator.surface import tokens


def family_vocab(family: int, seed: int = 0, items: int = 2000, brands: int = 320) -> set[str]:
    """The distinct title tokens of a catalog of `items` items of `family`."""
    fam = get_family(family)
    rng = random.Random(f"relstream-vocab/{family}/{seed}")
    catalog, _ = build_catalog(rng, items, make_brands(rng, brands, fam), fam)
    return {w for it in catalog for w in tokens(it.title)}


def jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def vocab_overlaps(seed: int = 0, items: int = 2000,
                   families: tuple[int, ...] | None = None) -> dict[tuple[int, int], float]:
    """Title-vocabulary Jaccard overlap of every pair of families (ids ascending)."""
    ids = families if families is not None else tuple(f.id for f in FAMILIES)
    vocab = {f: family_vocab(f, seed, items) for f in ids}
    return {(a, b): jaccard(vocab[a], vocab[b]) for a, b in combinations(ids, 2)}


def format_overlaps(overlaps: dict[tuple[int, int], float]) -> str:
    """A Markdown matrix of the pairwise overlaps."""
    ids = sorted({i for pair in overlaps for i in pair})
    names = {f.id: f.name for f in FAMILIES}
    lines = ["| family | " + " | ".join(f"{i} {names[i]}" for i in ids) + " |",
             "|---|" + "---|" * len(ids)]
    for a in ids:
        cells = ["-" if a == b else f"{overlaps[(min(a, b), max(a, b))]:.3f}" for b in ids]
        lines.append(f"| {a} {names[a]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
