"""Shopper queries: structured intents, their surface text and their popularity.

An `Intent` is exactly what a query states: a product type and canonical constraints.
Queries are drawn from catalog items (so most have exact matches), rendered with varying
surface forms and word order, sometimes with a synonym for the type or a typo, and given
a heavy-tailed popularity; the head/torso/tail bucket follows from the traffic share.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from relstream.tools.simulator.catalog import SimItem
from relstream.tools.simulator.family import Family
from relstream.tools.simulator.style import QueryStyle
from relstream.tools.simulator.surface import DEFAULT_FORMS, ValueForms, add_typo, query_value
from relstream.tools.simulator.taxonomy import DIMENSIONS, Taxonomy

KINDS = ("bare_type", "type_attribute", "brand_type", "model", "accessory", "multi_constraint")
VARIANT_KINDS = ("synonym", "typo", "reordered")
KIND_WEIGHT = {"bare_type": 30.0, "type_attribute": 5.0, "brand_type": 6.0, "model": 4.0,
               "accessory": 5.0, "multi_constraint": 1.5}
KIND_SHARE = {"type_attribute": 0.2, "brand_type": 0.15, "model": 0.15, "accessory": 0.1,
              "multi_constraint": 0.4}
_POST_DIMS = ("size", "capacity", "pack")
_ATTR_DIMS = ("color", "gender", "material", "size", "capacity", "pack")
HEAD_SHARE, TORSO_SHARE = 0.35, 0.75
"""Queries covering the first 35% of traffic are head, up to 75% torso, the rest tail."""


@dataclass(frozen=True)
class Intent:
    """A product type and the constraints a query states, as canonical (dim, value) pairs."""

    ptype: str
    constraints: tuple[tuple[str, str], ...] = ()

    def values(self, dim: str) -> list[str]:
        """The stated values of `dim` (several only for `feature`)."""
        return [v for d, v in self.constraints if d == dim]

    @property
    def key(self) -> str:
        return self.ptype + "|" + "|".join(f"{d}={v}" for d, v in self.constraints)

    def to_json(self, taxonomy: Taxonomy) -> dict[str, Any]:
        """The `intent` object of `query_meta.jsonl`; `taxonomy` is the shop's."""
        t = taxonomy.by_key[self.ptype]
        out: dict[str, Any] = {"type": t.noun, "category": t.path}
        for d, v in self.constraints:
            if d == "feature":
                out.setdefault("feature", []).append(v)
            else:
                out[d] = v
        return out


@dataclass
class SimQuery:
    """One distinct query: its text, intent, kind, popularity and the words per dimension."""

    text: str
    intent: Intent
    kind: str
    base_kind: str
    weight: float
    taxonomy: Taxonomy = field(repr=False, compare=False)
    """The shop's product knowledge, which the intent's type is a key of."""
    surface: dict[str, str] = field(default_factory=dict)
    bucket: str = "tail"
    new_brand: bool = False

    @property
    def department(self) -> str:
        return self.taxonomy.by_key[self.intent.ptype].department


def _order(constraints: list[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(set(constraints), key=lambda c: (DIMENSIONS.index(c[0]), c[1])))


def render_query(intent: Intent, kind: str, variant: str | None, rng: random.Random,
                 taxonomy: Taxonomy, style: QueryStyle | None = None,
                 forms: ValueForms = DEFAULT_FORMS) -> tuple[str, dict[str, str]]:
    """The query text for `intent` and the words that state each dimension in it."""
    qs = style if style is not None else QueryStyle()
    t = taxonomy.by_key[intent.ptype]
    noun = rng.choice(t.synonyms) if variant == "synonym" else rng.choice(t.query_nouns)
    surface = {"type": noun}
    pre: list[str] = []
    post: list[str] = []
    for dim, value in intent.constraints:
        if dim == "brand":
            words = value
            # the rate is checked first so a style without "by" draws nothing here
            if qs.brand_by_rate and rng.random() < qs.brand_by_rate:
                post.append(f"by {words}")
            else:
                pre.insert(0, words)
        elif dim == "model":
            words = value
            pre.append(words)
        elif dim == "compatibility":
            parts = value.split()
            words = " ".join(parts[1:]) if len(parts) > 2 and rng.random() < 0.5 else value
            if rng.random() < 0.6:
                lead = qs.compat_words[0] if len(qs.compat_words) == 1 else rng.choice(
                    qs.compat_words)
                post.append(f"{lead} {words}")
            else:
                pre.insert(0, words)
        else:
            words = query_value(dim, value, rng, forms)
            at_end = dim in _POST_DIMS or rng.random() < qs.post_rate
            (post if at_end else pre).append(words)
        surface[f"feature:{value}" if dim == "feature" else dim] = words
    # the type is always stated: a bare model name ("luna 3") could belong to many types
    parts = pre + [noun] + post
    if qs.lead_rate and rng.random() < qs.lead_rate:
        parts.insert(0, rng.choice(qs.lead_words))
    if variant == "typo":
        # slip in one dimension's words, so the CoT evidence quotes the query as typed
        keys = [k for k, w in surface.items() if any(len(x) >= 5 and x.isalpha()
                                                     for x in w.split())]
        if keys:
            key = rng.choice(keys)
            typed, slipped = surface[key], add_typo(surface[key], rng)
            i = next(i for i, p in enumerate(parts) if typed in p)
            parts[i] = parts[i].replace(typed, slipped, 1)
            surface[key] = slipped
    if variant == "reordered" and len(parts) > 1:
        rng.shuffle(parts)
    return " ".join(" ".join(parts).lower().split()), surface


def _constraints(kind: str, item: SimItem, rng: random.Random) -> list[tuple[str, str]] | None:
    vals = [(d, v) for d, v in item.values.items() if d in _ATTR_DIMS]
    feats = [("feature", f) for f in item.features]
    if kind == "type_attribute":
        pool = vals + feats
        return [rng.choice(pool)] if pool else None
    if kind == "brand_type":
        return [("brand", item.brand.lower())]
    if kind == "model":
        model = [("model", item.model.key)]
        return model + [("brand", item.brand.lower())] if rng.random() < 0.7 else model
    if kind == "accessory":
        if "compatibility" not in item.values:
            return None
        extra = [c for c in vals if c[0] in ("color", "material", "pack")]
        out = [("compatibility", item.values["compatibility"])]
        return out + rng.sample(extra, 1) if extra and rng.random() < 0.3 else out
    pool = vals + feats + [("brand", item.brand.lower())]
    if len(pool) < 2:
        return None
    picked = rng.sample(pool, min(len(pool), rng.randint(2, 4)))
    if rng.random() < 0.15:  # shoppers also ask for combinations nobody sells
        i = rng.randrange(len(picked))
        dim, _ = picked[i]
        options = item.type.dims.get(dim, ())
        if options:
            picked[i] = (dim, rng.choice(options))
    return picked


def _variant(t_has_synonyms: bool, rng: random.Random, cuts: tuple[float, float, float]
             ) -> str | None:
    r = rng.random()
    if r < cuts[0] and t_has_synonyms:
        return "synonym"
    if r < cuts[1]:
        return "typo"
    if r < cuts[2]:
        return "reordered"
    return None


def _add(out: dict[str, SimQuery], intent: Intent, kind: str, item_weight: float,
         rng: random.Random, family: Family, new_brand: bool = False) -> None:
    tax = family.taxonomy
    t = tax.by_key[intent.ptype]
    style = family.style
    variant = _variant(bool(t.synonyms), rng, style.queries.variant_cuts)
    text, surface = render_query(intent, kind, variant, rng, tax, style.queries, style.forms)
    if not text or text in out:
        return
    weight = KIND_WEIGHT[kind] * item_weight * min(rng.paretovariate(1.1), 200.0)
    out[text] = SimQuery(text, intent, variant or kind, kind, weight, tax, surface,
                         new_brand=new_brand)


def make_queries(rng: random.Random, items: list[SimItem], n_queries: int,
                 family: Family) -> list[SimQuery]:
    """Every bare type query plus about `n_queries` others, with popularity and buckets."""
    tax = family.taxonomy
    out: dict[str, SimQuery] = {}
    for t in tax.types:
        for noun in t.query_nouns + t.synonyms:
            q = SimQuery(noun, Intent(t.key), "synonym" if noun in t.synonyms else "bare_type",
                         "bare_type", KIND_WEIGHT["bare_type"] * t.weight
                         * min(rng.paretovariate(1.1), 200.0), tax, {"type": noun})
            out.setdefault(noun, q)
            if rng.random() < family.style.queries.bare_typo_rate:
                typo_text = add_typo(noun, rng)
                if typo_text not in out:
                    out[typo_text] = SimQuery(typo_text, Intent(t.key), "typo", "bare_type",
                                              q.weight * 0.1, tax, {"type": typo_text})
    accessories = [i for i in items if "compatibility" in i.values]
    kinds = list(KIND_SHARE)
    shares = [KIND_SHARE[k] for k in kinds]
    attempts = 0
    target = len(out) + n_queries
    while len(out) < target and attempts < n_queries * 5:
        attempts += 1
        kind = rng.choices(kinds, shares)[0]
        pool = accessories if kind == "accessory" else items
        if not pool:
            continue  # a catalog too small to hold any accessory
        item = rng.choice(pool)
        cons = _constraints(kind, item, rng)
        if cons is None:
            continue
        _add(out, Intent(item.ptype, _order(cons)), kind, item.type.weight, rng, family)
    return assign_buckets(list(out.values()))


def assign_buckets(queries: list[SimQuery]) -> list[SimQuery]:
    """Label head/torso/tail by cumulative traffic share; returns queries by weight."""
    ranked = sorted(queries, key=lambda q: (-q.weight, q.text))
    total = sum(q.weight for q in ranked) or 1.0
    cum = 0.0
    for q in ranked:
        share = cum / total
        q.bucket = "head" if share < HEAD_SHARE else ("torso" if share < TORSO_SHARE else "tail")
        cum += q.weight
    return ranked


def brand_launch_queries(rng: random.Random, items: list[SimItem], n: int,
                         family: Family) -> list[SimQuery]:
    """Queries about a newly launched brand's items (brand, model, multi, accessory)."""
    out: dict[str, SimQuery] = {}
    attempts = 0
    while len(out) < n and attempts < n * 10:
        attempts += 1
        item = rng.choice(items)
        kind = rng.choice(("brand_type", "brand_type", "model", "multi_constraint"))
        cons = _constraints(kind, item, rng)
        if cons is None:
            continue
        if not any(d in ("brand", "model") for d, _ in cons):
            cons.append(("brand", item.brand.lower()))
        _add(out, Intent(item.ptype, _order(cons)), kind, item.type.weight * 3, rng, family,
             True)
    return list(out.values())
