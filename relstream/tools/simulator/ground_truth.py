"""The ESCI ground truth, decided from the query's intent and the item's true attributes.

Rules (documented in docs/simulator.md), applied in order:

1. Same product type as the query: **E** when every stated constraint is met, else **S**.
   A constraint is met when the item's true value equals the stated one; gender `men` or
   `women` is also met by a `unisex` item; a feature is met when the item has it. A
   constraint on a dimension the item does not have is not met (`not_stated`).
2. A different type of the same substitute family (running shoes for sneakers): **S**.
3. A complement type (socks for shoes, a case for a phone, and the other way round):
   **C**, provided that when one side is a device and the other an accessory made for a
   specific device, the accessory fits a device that meets the query's brand, model and
   compatibility constraints. An accessory that fits another device is **I**.
4. Anything else: **I**.

Text overlap plays no part: the grade never looks at titles or query words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relstream.core.schemas import Grade
from relstream.tools.simulator.catalog import SimItem
from relstream.tools.simulator.queries import Intent
from relstream.tools.simulator.taxonomy import is_complement, same_family

MATCH, MISMATCH, NOT_STATED = "match", "mismatch", "not_stated"


@dataclass(frozen=True)
class Check:
    """The outcome of one constrained dimension: which value was asked, which was found."""

    dimension: str
    status: str
    wanted: str
    found: str | None


@dataclass(frozen=True)
class Judgement:
    """A pair's grade, how the item relates to the wanted type, and the deciding checks."""

    grade: Grade
    relation: str
    """`same_type`, `substitute_type`, `complement`, `incompatible_accessory` or `unrelated`."""
    checks: tuple[Check, ...] = field(default_factory=tuple)


def check_constraint(dim: str, wanted: str, item: SimItem) -> Check:
    """Does `item` meet the constraint `dim = wanted`?"""
    if dim == "brand":
        found: str | None = item.brand.lower()
    elif dim == "model":
        found = item.model.key
    elif dim == "feature":
        has = wanted in item.features
        return Check(dim, MATCH if has else NOT_STATED, wanted, wanted if has else None)
    else:
        found = item.values.get(dim)
    if found is None:
        return Check(dim, NOT_STATED, wanted, None)
    ok = found == wanted or (dim == "gender" and found == "unisex" and wanted in ("men", "women"))
    return Check(dim, MATCH if ok else MISMATCH, wanted, found)


def _fit_check(intent: Intent, item: SimItem) -> Check | None:
    """For a device/accessory complement pair: does the accessory fit the device meant?

    None when the pair is a generic complement, or the query names no device to fit.
    """
    wanted, have = item.taxonomy.by_key[intent.ptype], item.type
    if have.accessory_of == wanted.key and item.compat is not None:
        # the item is an accessory for the wanted device type: it must fit the wanted device
        c = item.compat
        named = [(d, v) for d, v in intent.constraints if d in ("brand", "model")]
        if not named:
            return None
        ok = all(v == (c.brand.lower() if d == "brand" else c.key) for d, v in named)
        return Check("compatibility", MATCH if ok else MISMATCH, " ".join(v for _, v in named),
                     c.device_key)
    if wanted.accessory_of == have.key:
        # the query wants an accessory, the item is a device: it must be the device named
        compat = intent.values("compatibility")
        if not compat:
            return None
        ok = compat[0] == item.model.device_key
        return Check("compatibility", MATCH if ok else MISMATCH, compat[0], item.model.device_key)
    return None


def judge(intent: Intent, item: SimItem) -> Judgement:
    """The ESCI grade of `item` for a query stating `intent`, with per-dimension checks.

    The intent's type is looked up in the item's taxonomy: query and item are of one shop.
    """
    wanted, have = item.taxonomy.by_key[intent.ptype], item.type
    checks = tuple(check_constraint(d, v, item) for d, v in intent.constraints)
    if have.key == wanted.key:
        grade: Grade = "E" if all(c.status == MATCH for c in checks) else "S"
        return Judgement(grade, "same_type", checks)
    type_check = Check("type", MISMATCH, wanted.key, have.key)
    if same_family(wanted, have):
        return Judgement("S", "substitute_type", (type_check,) + checks)
    if is_complement(wanted, have):
        # the item is another kind of product: only its fit, not its color or size, matters
        fit = _fit_check(intent, item)
        if fit is None or fit.status == MATCH:
            return Judgement("C", "complement", (type_check,) + ((fit,) if fit else ()))
        return Judgement("I", "incompatible_accessory", (type_check, fit))
    return Judgement("I", "unrelated", (type_check,))
