"""The catalog: items with true structured attributes and marketplace-style titles.

Every item carries its true values (`values`, canonical, used by the ground truth). What
a shopper or model sees is the title and the `attributes` object: each value is written
in the title only, in `attributes` only, or in both, with varying surface forms, order,
abbreviations and marketing words. Every true value is visible somewhere, so the labels
stay decidable from the item's text.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from relstream.tools.simulator.brands import Brand, ProductModel, make_models
from relstream.tools.simulator.family import Family
from relstream.tools.simulator.style import ShopStyle
from relstream.tools.simulator.surface import title_value
from relstream.tools.simulator.taxonomy import ProductType, Taxonomy


@dataclass
class SimItem:
    """One catalog item as the simulator knows it (truth and presentation)."""

    item_id: str
    ptype: str
    brand: str
    model: ProductModel
    values: dict[str, str]
    features: tuple[str, ...]
    taxonomy: Taxonomy = field(repr=False, compare=False)
    """The shop's product knowledge, which `ptype` is a key of."""
    title: str = ""
    attributes: dict[str, str] = field(default_factory=dict)
    surface: dict[str, str] = field(default_factory=dict)
    """dim → the words that state it in the item's text (title form, else attribute form)."""
    price: float = 0.0
    popularity: float = 1.0
    launched_at: str | None = None
    compat: ProductModel | None = None
    """The device an accessory fits (its `compatibility` value), if any."""

    @property
    def type(self) -> ProductType:
        return self.taxonomy.by_key[self.ptype]

    def to_json(self) -> dict[str, Any]:
        """The contract catalog line (fixed key order)."""
        out: dict[str, Any] = {
            "item_id": self.item_id, "title": self.title, "category": self.type.path,
            "brand": self.brand, "attributes": dict(sorted(self.attributes.items())),
            "price": self.price,
        }
        if self.launched_at:
            out["launched_at"] = self.launched_at
        return out


def _pick_values(
    rng: random.Random, t: ProductType, device_models: list[ProductModel], brand: str,
) -> tuple[dict[str, str], tuple[str, ...], ProductModel | None]:
    values: dict[str, str] = {}
    features: tuple[str, ...] = ()
    compat = None
    for dim, pool in t.dims.items():
        if dim == "feature":
            features = tuple(f for f in pool if rng.random() < 0.35)
        elif dim == "gender" and "unisex" in pool and rng.random() < 0.5:
            values[dim] = rng.choice([g for g in pool if g != "unisex"])
        else:
            values[dim] = rng.choice(pool)
    if t.accessory_of:
        own = [m for m in device_models if m.ptype == t.accessory_of and m.brand == brand]
        pool_models = own if own and rng.random() < 0.7 else [
            m for m in device_models if m.ptype == t.accessory_of]
        # head devices get most accessories, as in a real marketplace
        idx = min(int(rng.paretovariate(1.3)) - 1, len(pool_models) - 1)
        compat = pool_models[idx]
        values["compatibility"] = compat.device_key
    return values, features, compat


def _place(rng: random.Random) -> str:
    r = rng.random()
    return "title" if r < 0.35 else ("attr" if r < 0.7 else "both")


def _compat_title(device: str, rng: random.Random, forms: tuple[str, ...]) -> str:
    words = device.split()
    short = " ".join(words[1:]) if len(words) > 2 and rng.random() < 0.5 else device
    short = " ".join(w.capitalize() if w.isalpha() else w for w in short.split())
    return rng.choice(forms).format(d=short)


def render_item(item: SimItem, rng: random.Random, style: ShopStyle) -> None:
    """Fill in title, attributes and surface from the true values, in `style`."""
    t = item.type
    ts = style.titles
    attrs: dict[str, str] = {}
    head: list[str] = []
    tail: list[str] = []
    gender_words = ""
    for dim, value in item.values.items():
        place = "title" if dim == "compatibility" and rng.random() < 0.85 else _place(rng)
        if place in ("attr", "both"):
            attrs[dim] = value
        if place in ("title", "both"):
            if dim == "compatibility":
                words = _compat_title(value, rng, ts.compat_forms)
                if value.split()[0] not in words.lower():
                    # "for Nova 12" alone could be another maker's Nova 12: say whose
                    attrs[dim] = value
            else:
                words = title_value(dim, value, rng, style.forms)
            item.surface[dim] = words
            if dim == "gender":
                gender_words = words
            elif dim in ("color", "material") and rng.random() < 0.4:
                head.append(words)
            else:
                tail.append(words)
        else:
            item.surface[dim] = value
    attr_features = []
    for f in item.features:
        place = _place(rng)
        if place in ("attr", "both"):
            attr_features.append(f)
        if place in ("title", "both"):
            word = title_value("feature", f, rng, style.forms)
            item.surface[f"feature:{f}"] = word
            (head if rng.random() < 0.5 else tail).append(word)
        else:
            item.surface[f"feature:{f}"] = f
    if attr_features:
        attrs["feature"] = ", ".join(attr_features)
    noun = rng.choice(t.title_nouns)
    if gender_words.startswith("for "):
        core = f"{noun} {gender_words}"
    elif gender_words:
        core = f"{gender_words} {noun}"
    else:
        core = noun
    tax = item.taxonomy
    if t.key in tax.names_its_complement and rng.random() < 0.4:
        other = tax.by_key[rng.choice(tax.complements_of(t))]
        core += f" {ts.goes_with} {rng.choice(other.title_nouns)}"
    brand_part = [item.brand] if rng.random() < ts.brand_rate else []
    model_part = [item.model.name] if rng.random() < ts.model_rate else []
    item.surface["brand"] = item.brand
    item.surface["model"] = item.model.name
    item.surface["type"] = noun
    if model_part and rng.random() < 0.1:
        model_part = [item.model.line]  # "Glide" in the title, "Glide 5" only in attributes
    if model_part != [item.model.name]:
        attrs["model"] = item.model.name
    tail_words = list(tail)
    if ts.layout == "brand_first":
        lead = " ".join(brand_part + model_part + head + [core])
        rng.shuffle(tail_words)
        pieces = [lead] + tail_words
    else:
        maker = " ".join(brand_part + model_part)
        rng.shuffle(tail_words)
        product = " ".join(head + [core])
        if ts.layout == "noun_first":
            pieces = [product] + tail_words + [maker]
        else:  # brand_bar
            pieces = [maker, product] + tail_words
        pieces = [p for p in pieces if p]
    if rng.random() < ts.marketing_rate:
        market = rng.choice(ts.marketing)
        pieces.insert(0 if rng.random() < 0.4 else len(pieces), market)
    sep = rng.choice(ts.separators)
    item.title = sep.join(pieces)
    item.attributes = attrs


def build_catalog(rng: random.Random, n_items: int, brands: list[Brand], family: Family,
                  id_prefix: str = "sku") -> tuple[list[SimItem], list[ProductModel]]:
    """`n_items` items of `family` spread over its types by weight; devices are built first."""
    tax = family.taxonomy
    types = tax.types
    total_w = sum(t.weight for t in types)
    models_by_type: dict[str, list[ProductModel]] = {}
    for t in types:
        ms: list[ProductModel] = []
        for b in brands:
            if t.key in b.ptypes:
                ms.extend(make_models(rng, b.name, t.key, family.style.models))
        models_by_type[t.key] = ms
    device_models = [m for d in tax.device_types for m in models_by_type[d]]
    items: list[SimItem] = []
    order = sorted(types, key=lambda t: t.accessory_of is not None)
    counts = {t.key: max(2, int(n_items * t.weight / total_w)) for t in types}
    for i in range(max(0, n_items - sum(counts.values()))):
        counts[types[i % len(types)].key] += 1
    for t in order:
        n = counts[t.key]
        ms = models_by_type[t.key]
        weights = [1.0 / (i + 1) ** 0.6 for i in range(len(ms))]
        for _ in range(n):
            m = rng.choices(ms, weights)[0]
            values, features, compat = _pick_values(rng, t, device_models, m.brand)
            items.append(SimItem("", t.key, m.brand, m, values, features, tax, compat=compat))
    rng.shuffle(items)
    items = items[:n_items] if len(items) > n_items else items
    for i, item in enumerate(items):
        item.item_id = f"{id_prefix}-{i:06d}"
        lo, hi = item.type.price
        item.price = round(rng.uniform(lo, hi), 2)
        item.popularity = rng.lognormvariate(0.0, 1.0)
        render_item(item, rng, family.style)
    return items, device_models


def launch_items(rng: random.Random, models: list[ProductModel], n: int,
                 device_models: list[ProductModel], first_id: int, launched_at: str,
                 family: Family, id_prefix: str = "sku") -> list[SimItem]:
    """`n` items of a brand launched mid-stream (the `new-brand` scenario)."""
    tax = family.taxonomy
    items = []
    for k in range(n):
        m = models[k % len(models)]
        values, features, compat = _pick_values(rng, tax.by_key[m.ptype], device_models, m.brand)
        item = SimItem(f"{id_prefix}-{first_id + k:06d}", m.ptype, m.brand, m, values, features,
                       tax, compat=compat, launched_at=launched_at)
        lo, hi = item.type.price
        item.price = round(rng.uniform(lo, hi), 2)
        item.popularity = rng.lognormvariate(0.5, 1.0)
        render_item(item, rng, family.style)
        items.append(item)
    return items
