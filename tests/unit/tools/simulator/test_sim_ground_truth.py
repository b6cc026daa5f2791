"""The ESCI rules of `relstream.tools.simulator.ground_truth`, on hand-built items and intents."""

from __future__ import annotations

from relstream.tools.simulator.brands import ProductModel
from relstream.tools.simulator.catalog import SimItem
from relstream.tools.simulator.families.general import TAXONOMY
from relstream.tools.simulator.ground_truth import judge
from relstream.tools.simulator.queries import Intent

PHONE = ProductModel("Aurex", "smartphones", "Nova", "Nova 12")
OLD_PHONE = ProductModel("Aurex", "smartphones", "Nova", "Nova 11")


def item(ptype: str, brand: str = "Stride", model: str = "Glide 5", *,
         compat: ProductModel | None = None, features: tuple[str, ...] = (),
         **values: str) -> SimItem:
    m = PHONE if ptype == "smartphones" and model == "Nova 12" else ProductModel(
        brand, ptype, model.split()[0], model)
    if compat is not None:
        values["compatibility"] = compat.device_key
    return SimItem("sku-1", ptype, brand, m, dict(values), features, TAXONOMY, compat=compat)


SHOE = item("running_shoes", color="black", size="10", gender="men", features=("waterproof",))
RUNNING = Intent("running_shoes", (("brand", "stride"), ("color", "black"), ("gender", "men")))


def test_exact_when_every_constraint_is_met() -> None:
    j = judge(RUNNING, SHOE)
    assert j.grade == "E"
    assert [c.status for c in j.checks] == ["match", "match", "match"]
    assert judge(Intent("running_shoes"), SHOE).grade == "E"
    assert judge(Intent("running_shoes", (("model", "glide 5"), ("size", "10"))), SHOE).grade == "E"


def test_unisex_meets_men_and_women_but_not_kids() -> None:
    unisex = item("running_shoes", gender="unisex")
    assert judge(Intent("running_shoes", (("gender", "women"),)), unisex).grade == "E"
    assert judge(Intent("running_shoes", (("gender", "men"),)), unisex).grade == "E"
    assert judge(Intent("running_shoes", (("gender", "kids"),)), unisex).grade == "S"


def test_substitute_when_a_constraint_fails() -> None:
    for dim, value in (("brand", "trailpeak"), ("color", "red"), ("gender", "women"),
                       ("size", "9"), ("model", "glide 4")):
        j = judge(Intent("running_shoes", ((dim, value),)), SHOE)
        assert j.grade == "S", (dim, value)
        assert j.checks[0].status == "mismatch"


def test_missing_feature_or_dimension_is_not_met() -> None:
    j = judge(Intent("running_shoes", (("feature", "wide"),)), SHOE)
    assert (j.grade, j.checks[0].status) == ("S", "not_stated")
    assert judge(Intent("running_shoes", (("feature", "waterproof"),)), SHOE).grade == "E"
    no_material = judge(Intent("running_shoes", (("material", "mesh"),)), SHOE)
    assert (no_material.grade, no_material.checks[0].status) == ("S", "not_stated")


def test_substitute_family_type_is_s_even_with_all_constraints_met() -> None:
    sneaker = item("sneakers", color="black", gender="men")
    j = judge(Intent("running_shoes", (("color", "black"),)), sneaker)
    assert (j.grade, j.relation) == ("S", "substitute_type")


def test_generic_complements_are_c_both_ways() -> None:
    socks = item("socks", color="black", pack="6")
    j = judge(RUNNING, socks)
    assert j.grade == "C" and [c.dimension for c in j.checks] == ["type"]
    assert judge(Intent("socks", (("pack", "6"),)), SHOE).grade == "C"


def test_accessory_for_the_wanted_device_is_c_and_for_another_device_is_i() -> None:
    phone_query = Intent("smartphones", (("brand", "aurex"), ("model", "nova 12")))
    fits = item("phone_cases", "Shellco", "Armor 2", compat=PHONE, color="black")
    other = item("phone_cases", "Shellco", "Armor 2", compat=OLD_PHONE, color="black")
    j = judge(phone_query, fits)
    assert j.grade == "C"
    # another product: its fit decides, not its color
    assert [(c.dimension, c.status) for c in j.checks] == [
        ("type", "mismatch"), ("compatibility", "match")]
    j = judge(phone_query, other)
    assert (j.grade, j.relation) == ("I", "incompatible_accessory")
    assert j.checks[-1].status == "mismatch" and j.checks[-1].found == OLD_PHONE.device_key
    # a query that names no model accepts any case for a phone of its brand
    assert judge(Intent("smartphones", (("brand", "aurex"),)), other).grade == "C"
    assert judge(Intent("smartphones", (("brand", "zentro"),)), other).grade == "I"


def test_accessory_query_grades_cases_and_the_device() -> None:
    wanted = Intent("phone_cases", (("compatibility", PHONE.device_key),))
    fits = item("phone_cases", "Shellco", "Armor 2", compat=PHONE, color="black")
    other = item("phone_cases", "Shellco", "Armor 2", compat=OLD_PHONE, color="black")
    phone = item("smartphones", "Aurex", "Nova 12", color="black", capacity="256gb")
    old_phone = SimItem("sku-2", "smartphones", "Aurex", OLD_PHONE, {"color": "black"}, (),
                        TAXONOMY)
    assert judge(wanted, fits).grade == "E"
    assert judge(wanted, other).grade == "S"  # right type, wrong compatibility
    assert judge(wanted, phone).grade == "C"  # the phone the case is for
    assert judge(wanted, old_phone).grade == "I"  # a phone the case does not fit


def test_unrelated_is_i() -> None:
    lamp = item("lamps", color="black")
    j = judge(RUNNING, lamp)
    assert (j.grade, j.relation) == ("I", "unrelated")
    assert [c.dimension for c in j.checks] == ["type"]
