"""Family 5, `baby_health`: a baby, health and personal care shop.

Diapering, feeding, baby gear, health care and oral and shaving care: `size` is a diaper
size or a baby's stage ("newborn", "size 3"), `capacity` a bottle or tube volume or a
count of tablets, `material` a scent, flavour or active ingredient. Bottles take nipples,
car seats take bases, electric toothbrushes take brush heads and razors take cartridges
made for one model (device/accessory pairs). Brands are soft compounds ("Cuddlenest
Baby"), models a line and stage number ("Snuggle 3 Sense"), titles lead with the product.
"""

from __future__ import annotations

from relstream.tools.simulator.family import Family
from relstream.tools.simulator.style import (
    BrandStyle,
    ModelStyle,
    QueryStyle,
    ShopStyle,
    TitleStyle,
)
from relstream.tools.simulator.surface import ValueForms
from relstream.tools.simulator.taxonomy import ProductType, Taxonomy
from relstream.tools.simulator.taxonomy import product_type as _t

DIAPER_SIZES = ("newborn", "size 1", "size 2", "size 3", "size 4", "size 5")
PASTELS = ("mint", "lavender", "blush", "sky", "oatmeal", "sage")
SCENTS = ("unscented", "lavender", "eucalyptus", "aloe")

TYPES: tuple[ProductType, ...] = (
    # --- Diapering
    _t("diapers", "Diapering > Diapers > Disposable Diapers", ("Disposable Diapers",
       "Baby Diapers", "Diaper Briefs"), ("diapers", "baby diapers"),
       synonyms=("nappies",), dims={"size": DIAPER_SIZES, "pack": ("32", "84", "168"),
       "feature": ("hypoallergenic", "wetness indicator", "overnight")}, family="diapering",
       complements=("baby_wipes", "diaper_cream"), price=(10, 60), weight=2.0),
    _t("training_pants", "Diapering > Diapers > Training Pants", ("Training Pants",
       "Pull-Up Pants", "Potty Training Underwear"), ("training pants", "pull ups"),
       synonyms=("potty pants",), dims={"size": ("size 2t-3t", "size 3t-4t", "size 4t-5t"),
       "pack": ("22", "66"), "feature": ("overnight",)}, family="diapering",
       complements=("baby_wipes",), price=(10, 45)),
    _t("baby_wipes", "Diapering > Wipes > Baby Wipes", ("Baby Wipes", "Wipes Refill",
       "Cleansing Wipes"), ("baby wipes", "wipes"), synonyms=("wet wipes",),
       dims={"material": SCENTS, "pack": ("72", "288", "720"), "feature": ("fragrance free",
       "plant based")}, complements=("diapers", "training_pants"), price=(4, 30), weight=1.6),
    _t("diaper_cream", "Diapering > Skin > Diaper Rash Cream", ("Diaper Rash Cream",
       "Diaper Balm", "Rash Paste"), ("diaper cream", "diaper rash cream"),
       synonyms=("butt paste",), dims={"material": ("zinc oxide", "petrolatum", "calendula"),
       "capacity": ("2 oz", "4 oz", "16 oz")}, complements=("diapers",), price=(4, 20)),
    # --- Feeding
    _t("baby_bottles", "Feeding > Bottles > Baby Bottles", ("Baby Bottle", "Infant Feeding Bottle",
       "Feeding Bottle"), ("baby bottles", "feeding bottle"), synonyms=("infant bottles",),
       dims={"capacity": ("4 oz", "8 oz", "9 oz"), "material": ("glass", "silicone",
       "polypropylene"), "pack": ("2", "3", "6"), "feature": ("anti colic",)},
       complements=("bottle_nipples", "formula"), price=(8, 45), weight=1.4),
    _t("bottle_nipples", "Feeding > Bottles > Bottle Nipples", ("Bottle Nipples",
       "Replacement Nipples", "Bottle Teats"), ("bottle nipples", "replacement nipples"),
       synonyms=("teats",), dims={"size": ("slow flow", "medium flow", "fast flow"),
       "pack": ("2", "4")}, complements=("baby_bottles",), accessory_of="baby_bottles",
       price=(4, 15)),
    _t("formula", "Feeding > Formula > Infant Formula", ("Infant Formula", "Baby Formula Powder",
       "Toddler Formula"), ("baby formula", "infant formula"), synonyms=("formula milk",),
       dims={"material": ("milk based", "soy based", "goat milk", "hydrolyzed"),
             "capacity": ("12.4 oz", "20.5 oz", "35 oz"), "feature": ("non gmo", "sensitive")},
       complements=("baby_bottles",), price=(15, 60), weight=1.6),
    _t("breast_pumps", "Feeding > Nursing > Breast Pumps", ("Breast Pump", "Electric Breast Pump",
       "Wearable Pump"), ("breast pump",), dims={"feature": ("double electric", "hands free",
       "rechargeable")}, complements=("pump_flanges",), price=(40, 400)),
    _t("pump_flanges", "Feeding > Nursing > Pump Parts", ("Pump Flange Set",
       "Breast Shield Kit", "Pump Replacement Parts"), ("pump flanges", "breast shields"),
       synonyms=("pump parts",), dims={"size": ("21mm", "24mm", "27mm"), "pack": ("2", "4")},
       complements=("breast_pumps",), accessory_of="breast_pumps", price=(8, 35)),
    # --- Baby Gear
    _t("strollers", "Baby Gear > Strollers > Strollers", ("Stroller", "Travel Stroller",
       "Jogging Stroller"), ("stroller", "baby stroller"), synonyms=("pram", "pushchair"),
       dims={"color": ("graphite", "sage", "oatmeal", "midnight"),
             "feature": ("one hand fold", "reversible seat", "all terrain")},
       complements=("car_seats",), price=(80, 900), weight=1.2),
    _t("car_seats", "Baby Gear > Car Seats > Infant Car Seats", ("Infant Car Seat",
       "Convertible Car Seat", "Rear-Facing Car Seat"), ("car seat", "infant car seat"),
       synonyms=("baby car seat",), dims={"color": ("graphite", "midnight", "sage"),
       "feature": ("isofix", "side impact protection")},
       complements=("car_seat_bases", "strollers"), price=(90, 450)),
    _t("car_seat_bases", "Baby Gear > Car Seats > Car Seat Bases", ("Car Seat Base",
       "Infant Seat Base", "Extra Base"), ("car seat base", "extra base"),
       dims={"feature": ("load leg", "level indicator")}, complements=("car_seats",),
       accessory_of="car_seats", price=(60, 200)),
    _t("swaddles", "Baby Gear > Sleep > Swaddles", ("Swaddle Blanket", "Swaddle Wrap",
       "Sleep Sack"), ("swaddle", "swaddle blanket"), synonyms=("sleep sack",),
       dims={"color": PASTELS, "material": ("muslin", "bamboo viscose", "organic cotton"),
             "size": ("newborn", "0-3 months", "3-6 months"), "pack": ("1", "3")},
       price=(10, 45)),
    # --- Health Care
    _t("thermometers", "Health Care > Monitoring > Thermometers", ("Digital Thermometer",
       "Forehead Thermometer", "Ear Thermometer"), ("thermometer", "baby thermometer"),
       dims={"feature": ("no touch", "fever alarm", "backlit")}, price=(10, 60)),
    _t("vitamins", "Health Care > Supplements > Multivitamins", ("Multivitamin",
       "Daily Multivitamin", "Prenatal Vitamins"), ("vitamins", "multivitamin"),
       synonyms=("supplements",), dims={"material": ("gummy", "tablet", "softgel"),
       "capacity": ("60 count", "120 count", "240 count"), "feature": ("vegan", "iron free")},
       family="supplements", price=(8, 40), weight=1.4),
    _t("fish_oil", "Health Care > Supplements > Fish Oil", ("Omega-3 Fish Oil",
       "Fish Oil Softgels"), ("fish oil", "omega 3"), dims={"capacity": ("90 count",
       "180 count"), "feature": ("burpless",)}, family="supplements", price=(10, 40)),
    _t("pain_relievers", "Health Care > Medicine > Pain Relievers", ("Pain Reliever",
       "Pain Relief Tablets", "Pain Relief Caplets"), ("pain reliever", "pain relief"),
       synonyms=("painkiller", "pain pills"), dims={"material": ("ibuprofen",
       "acetaminophen", "naproxen"), "capacity": ("50 count", "100 count", "200 count")},
       price=(4, 20), weight=1.2),
    _t("bandages", "Health Care > First Aid > Bandages", ("Adhesive Bandages",
       "Flexible Fabric Bandages", "Fabric Bandages"), ("bandages", "adhesive bandages"),
       synonyms=("band aids", "plasters"),
       dims={"pack": ("30", "100", "200"), "feature": ("latex free", "waterproof seal")},
       complements=("first_aid_kits",), price=(3, 15)),
    _t("first_aid_kits", "Health Care > First Aid > First Aid Kits", ("First Aid Kit",
       "Travel First Aid Kit", "Emergency Kit"), ("first aid kit",),
       dims={"pack": ("100", "250"), "material": ("hard case", "soft pouch")},
       complements=("bandages",), price=(10, 60)),
    # --- Oral & Shave
    _t("electric_toothbrushes", "Oral & Shave > Oral Care > Electric Toothbrushes",
       ("Electric Toothbrush", "Sonic Toothbrush", "Rechargeable Toothbrush"),
       ("electric toothbrush", "sonic toothbrush"), synonyms=("power toothbrush",),
       dims={"color": ("mint", "lavender", "midnight", "pearl"),
             "feature": ("pressure sensor", "travel case", "2 minute timer")},
       complements=("brush_heads", "toothpaste"), price=(25, 250), weight=1.2),
    _t("brush_heads", "Oral & Shave > Oral Care > Brush Heads", ("Replacement Brush Heads",
       "Toothbrush Heads", "Brush Head Refills"), ("brush heads", "toothbrush heads"),
       synonyms=("refill heads",), dims={"pack": ("2", "4", "8"), "feature": ("soft bristle",)},
       complements=("electric_toothbrushes",), accessory_of="electric_toothbrushes",
       price=(10, 45), weight=1.2),
    _t("toothpaste", "Oral & Shave > Oral Care > Toothpaste", ("Toothpaste", "Toothpaste Tube",
       "Daily Toothpaste"), ("toothpaste",), synonyms=("tooth gel",),
       dims={"material": ("spearmint", "peppermint", "charcoal", "bubblegum"),
             "capacity": ("3.5 oz", "4.8 oz"), "pack": ("1", "3"),
             "feature": ("fluoride free", "whitening", "sensitive")},
       complements=("electric_toothbrushes",), price=(2, 15), weight=1.3),
    _t("razors", "Oral & Shave > Shaving > Razors", ("Razor", "Cartridge Razor",
       "5-Blade Razor"), ("razor", "shaving razor"), synonyms=("shaver",),
       dims={"color": ("gunmetal", "pearl", "midnight"), "feature": ("pivoting head",
       "trimmer blade")}, complements=("razor_cartridges", "shaving_cream"), price=(8, 40)),
    _t("razor_cartridges", "Oral & Shave > Shaving > Razor Cartridges", ("Razor Cartridges",
       "Refill Blades", "Replacement Cartridges"), ("razor refills", "razor cartridges"),
       synonyms=("razor blades",), dims={"pack": ("4", "8", "12")},
       complements=("razors",), accessory_of="razors", price=(10, 45)),
    _t("shaving_cream", "Oral & Shave > Shaving > Shaving Cream", ("Shaving Cream",
       "Shave Gel", "Shaving Foam"), ("shaving cream", "shave gel"),
       dims={"material": SCENTS, "capacity": ("6 oz", "10 oz")}, complements=("razors",),
       price=(3, 15)),
)

TAXONOMY = Taxonomy(TYPES, names_its_complement=frozenset({
    "bottle_nipples", "brush_heads", "razor_cartridges", "baby_wipes", "pump_flanges"}))

STYLE = ShopStyle(
    brands=BrandStyle(
        heads=("Little", "Tiny", "Cuddle", "Pure", "Gentle", "Calm", "Vita", "Medi", "Snug",
               "Hush", "Coo", "Bumble", "Pip", "Lulla", "Dimple", "Serene", "Tender", "Bright",
               "Dental", "Smile", "Soothe", "Well", "Nurt", "Cradle", "Swadd"),
        tails=("bloom", "nest", "leaf", "joy", "kind", "bee", "bear", "sprout", "bug", "dew",
               "wing", "heart", "cove", "nurse", "mist", "petal", "lamb", "sky"),
        extras=("", " Baby", " Health", " Wellness", " Naturals", " Care")),
    models=ModelStyle(
        lines=("Snuggle", "Dreamy", "Cozy", "Pebble", "Haven", "Lullaby", "Cloud", "Daisy",
               "Whisper", "Nimbus", "Sprig", "Feather", "Marshmallow", "Honeydew", "Dewdrop",
               "Blossom"),
        suffixes=("", "", "", "Sense", "Soft", "Care", "Gentle"),
        template="{line} {gen} {suffix}"),
    titles=TitleStyle(
        separators=(", ", " \u00b7 ", " - "),
        marketing=("Pediatrician Recommended", "Dermatologist Tested", "Hospital Grade",
                   "Clinically Proven", "BPA Free", "Mom Approved", "Gentle Formula",
                   "Travel Size"),
        compat_forms=("for {d}", "fits {d}", "compatible with {d}"),
        layout="noun_first", goes_with="for", marketing_rate=0.5),
    queries=QueryStyle(variant_cuts=(0.15, 0.25, 0.31), post_rate=0.35,
                       compat_words=("for", "fits"), lead_words=("gentle", "best"),
                       lead_rate=0.04, brand_by_rate=0.1),
    forms=ValueForms(
        colors={"sky": ("sky", "sky blue"), "blush": ("blush", "blush pink")},
        materials={"milk based": ("milk based", "cow's milk"), "gummy": ("gummy", "gummies"),
                   "bamboo viscose": ("bamboo viscose", "bamboo")},
        features={"hypoallergenic": ("hypoallergenic", "hypo-allergenic"),
                  "anti colic": ("anti colic", "anti-colic"), "latex free": ("latex free",
                  "latex-free"), "fluoride free": ("fluoride free", "no fluoride")},
        pack_title=("{v} Count", "{v}-Count", "{v} ct", "Value Pack of {v}"),
        pack_query=("{v} count", "{v} ct", "{v} pack")),
)

BABY_HEALTH = Family(5, "baby_health", "Baby, health & personal care: diapering, feeding, "
                     "baby gear, health care, oral and shaving care", TAXONOMY, STYLE,
                     launch_types=("diapers", "baby_wipes", "strollers", "vitamins",
                                   "electric_toothbrushes"))
