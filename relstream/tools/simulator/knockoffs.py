"""Knock-offs: other sellers' listings that put a newly launched brand's name in their titles.

After a hot launch, marketplaces fill with listings such as "Zentra Glide 5 style wireless
earbuds" sold by someone else. Their titles carry the new brand's name (and often its
model) while the `brand` field, and the product itself, are the seller's own. Ground
truth follows the product: for a query about the new brand a knock-off of the same type is
a Substitute, never Exact.

This is a drift a model trained before the launch can lose on: in the pre-launch catalog
the brand in a title always agrees with the `brand` field, so a student may have learnt
to read the title alone. The teacher reasons over the fields (brand step of its chain of
thought), so it can be right where that student is confidently wrong.
"""

from __future__ import annotations

import random
import re

from relstream.tools.simulator.brands import Brand, ProductModel, make_models
from relstream.tools.simulator.catalog import SimItem, launch_items
from relstream.tools.simulator.family import Family

HIJACKS: tuple[str, ...] = (
    "{brand} {model} style",
    "like {brand} {model}",
    "{brand} {model} alternative",
    "{brand} style",
    "inspired by {brand} {model}",
    "{brand} {model} dupe",
)
"""How a knock-off's title borrows the launched brand: `{brand}`, `{model}` are the real
item's brand and model names."""


def knockoff_items(rng: random.Random, launched: list[SimItem], brands: list[Brand],
                   n: int, devices: list[ProductModel], first_id: int, launched_at: str,
                   family: Family) -> list[SimItem]:
    """`n` items by other sellers of the launched items' types, titled after them.

    Each copies one launched item's product type and names its brand (and, in most
    templates, its model) in the title; its own brand and model stay in the fields and are
    taken out of the title, as a knock-off listing would.
    """
    if n <= 0 or not launched:
        return []
    types = sorted({it.ptype for it in launched})
    sellers = {t: [b for b in brands if t in b.ptypes] for t in types}
    models: list[tuple[SimItem, ProductModel]] = []
    for k in range(n):
        target = launched[k % len(launched)]
        seller = rng.choice(sellers[target.ptype] or brands)
        own = rng.choice(make_models(rng, seller.name, target.ptype, family.style.models))
        models.append((target, own))
    items = launch_items(rng, [m for _, m in models], n, devices, first_id, launched_at, family)
    for item, (target, own) in zip(items, models, strict=True):
        title = item.title
        for word in (own.name, own.line, own.brand):
            title = re.sub(rf"\b{re.escape(word)}\b", "", title)
        title = re.sub(r"^[\s|,:-]+|[\s|,:-]+$", "", title)
        phrase = rng.choice(HIJACKS).format(brand=target.brand, model=target.model.name)
        item.title = " ".join(f"{phrase} {title}".split())
        item.attributes = {**item.attributes, "model": own.name}
        item.surface["brand"] = own.brand
        item.surface["model"] = own.name
    return items
