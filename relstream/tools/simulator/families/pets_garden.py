"""Family 2, `pets_garden`: a pet supply and garden shop.

Dog, cat, fish and bird supplies, then lawn and garden: `material` is a food's protein or
a toy's material, `size` a breed or pet size, `capacity` bag weights and tank volumes.
Aquariums take filters made for one tank model and lawn mowers take blades made for one
mower model (device/accessory pairs). Brands are playful compounds ("Pawbuddy Pet Co"),
models a line and number with a letter ("Romp 4X"), titles lead with the maker behind a bar.
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

PROTEIN = ("chicken", "salmon", "lamb", "turkey", "duck")
DOG_SIZES = ("small breed", "medium breed", "large breed")
PET_COLORS = ("tan", "charcoal", "camo", "teal", "coral", "slate", "olive")
FOOD_BAGS = ("4 lb", "15 lb", "30 lb")

TYPES: tuple[ProductType, ...] = (
    # --- Dog
    _t("dog_food", "Dog > Food > Dry Dog Food", ("Dry Dog Food", "Dog Kibble",
       "Complete Dog Food"), ("dog food", "dry dog food"), synonyms=("kibble", "puppy chow"),
       dims={"material": PROTEIN, "size": DOG_SIZES, "capacity": FOOD_BAGS,
             "feature": ("grain free", "puppy formula", "senior formula")},
       family="dog_meals", complements=("dog_bowls", "dog_treats"), price=(12, 90),
       weight=2.0),
    _t("wet_dog_food", "Dog > Food > Wet Dog Food", ("Wet Dog Food", "Canned Dog Food",
       "Dog Food Cans"), ("wet dog food", "canned dog food"), synonyms=("dog stew",),
       dims={"material": PROTEIN, "pack": ("6", "12", "24"), "feature": ("grain free",)},
       family="dog_meals", complements=("dog_bowls",), price=(10, 50)),
    _t("dog_treats", "Dog > Treats > Dog Treats", ("Dog Treats", "Dog Chews", "Training Treats"),
       ("dog treats", "dog chews"), synonyms=("dog biscuits", "jerky treats"),
       dims={"material": PROTEIN, "capacity": ("6 oz", "16 oz"), "feature": ("grain free",
             "dental")}, complements=("dog_food",), price=(5, 30), weight=1.4),
    _t("dog_beds", "Dog > Beds > Dog Beds", ("Dog Bed", "Cuddler Dog Bed", "Bolster Pet Bed"),
       ("dog bed", "pet bed"), synonyms=("dog cushion",),
       dims={"size": ("small", "medium", "large", "jumbo"), "color": PET_COLORS,
             "feature": ("orthopedic", "washable cover", "chew proof")},
       family="pet_beds", price=(20, 150)),
    _t("leashes", "Dog > Walking > Leashes", ("Dog Leash", "Retractable Leash", "Rope Leash"),
       ("leash", "dog leash"), synonyms=("lead",),
       dims={"color": PET_COLORS, "material": ("nylon", "rope", "biothane"),
             "size": ("4 ft", "6 ft", "16 ft"), "feature": ("reflective", "padded handle")},
       complements=("collars", "harnesses"), price=(8, 40), weight=1.2),
    _t("collars", "Dog > Walking > Collars", ("Dog Collar", "Martingale Collar",
       "Breakaway Collar"), ("dog collar", "collar"), dims={"color": PET_COLORS,
       "material": ("nylon", "biothane", "suede"),
       "size": ("xs neck", "small neck", "medium neck", "large neck"),
       "feature": ("reflective", "quick release")}, family="restraints",
       complements=("leashes",), price=(6, 35)),
    _t("harnesses", "Dog > Walking > Harnesses", ("Dog Harness", "Step-In Harness", "Vest Harness"),
       ("dog harness", "harness"), synonyms=("no pull vest",), dims={"color": PET_COLORS,
       "size": ("xs neck", "small neck", "medium neck", "large neck"),
       "feature": ("reflective", "no pull")}, family="restraints", complements=("leashes",),
       price=(12, 50)),
    _t("dog_bowls", "Dog > Feeding > Dog Bowls", ("Dog Bowl", "Slow Feeder Bowl",
       "Elevated Feeder"), ("dog bowl", "pet bowl"), synonyms=("feeder",),
       dims={"material": ("ceramic", "bamboo fiber", "silicone"), "capacity": ("2 cup", "4 cup",
       "8 cup"), "feature": ("slow feed", "non tip")}, complements=("dog_food", "wet_dog_food"),
       price=(6, 40)),
    # --- Cat
    _t("cat_food", "Cat > Food > Dry Cat Food", ("Dry Cat Food", "Cat Kibble", "Indoor Cat Food"),
       ("cat food", "dry cat food"), synonyms=("kitty kibble",),
       dims={"material": ("chicken", "salmon", "tuna", "turkey"), "capacity": ("3 lb", "7 lb",
       "16 lb"), "feature": ("grain free", "hairball control", "kitten formula")},
       complements=("cat_litter",), price=(8, 60), weight=1.8),
    _t("cat_litter", "Cat > Litter > Cat Litter", ("Cat Litter Bag", "Cat Litter",
       "Litter Refill"), ("cat litter", "kitty litter"), synonyms=("litter",),
       dims={"material": ("clay", "pine", "wheat", "silica"), "capacity": ("10 lb", "20 lb",
       "40 lb"), "feature": ("unscented", "low dust", "clumping")},
       complements=("litter_boxes", "cat_food"), price=(8, 40), weight=1.5),
    _t("litter_boxes", "Cat > Litter > Litter Boxes", ("Litter Box", "Hooded Litter Pan",
       "Top Entry Litter Box"), ("litter box", "litter pan"), synonyms=("cat toilet",),
       dims={"color": PET_COLORS, "size": ("standard", "jumbo"), "feature": ("hooded",
       "self cleaning")}, complements=("cat_litter",), price=(15, 200)),
    _t("cat_trees", "Cat > Furniture > Cat Trees", ("Cat Tree", "Cat Tower", "Cat Condo"),
       ("cat tree", "cat tower"), synonyms=("cat condo", "scratching post"),
       dims={"color": ("beige", "charcoal", "tan"), "size": ("36 in", "52 in", "72 in")},
       family="pet_beds", price=(30, 200)),
    # --- Fish & Bird
    _t("aquariums", "Fish & Bird > Aquariums > Aquarium Kits", ("Aquarium Kit", "Fish Tank",
       "Nano Aquarium"), ("aquarium", "fish tank"), synonyms=("tank kit",),
       dims={"capacity": ("5 gal", "10 gal", "20 gal", "55 gal"),
             "feature": ("led hood", "curved glass")},
       complements=("aquarium_filters", "fish_food"), price=(30, 300)),
    _t("aquarium_filters", "Fish & Bird > Aquariums > Filter Cartridges",
       ("Filter Cartridge", "Aquarium Filter", "Replacement Cartridge"),
       ("aquarium filter", "filter cartridge"), synonyms=("tank filter",),
       dims={"pack": ("3", "6", "12"), "feature": ("carbon",)},
       complements=("aquariums",), accessory_of="aquariums", price=(6, 40)),
    _t("fish_food", "Fish & Bird > Fish > Fish Food", ("Fish Food", "Tropical Fish Food",
       "Aquarium Food"), ("fish food", "aquarium fish food"), dims={"capacity": ("1 oz", "2.2 oz",
       "7 oz"), "material": ("flakes", "pellets", "freeze dried")},
       complements=("aquariums",), price=(3, 20)),
    _t("bird_seed", "Fish & Bird > Birds > Bird Seed", ("Wild Bird Seed", "Bird Seed Mix",
       "Songbird Blend"), ("bird seed", "wild bird food"), synonyms=("birdseed",),
       dims={"material": ("sunflower", "millet", "nyjer", "safflower"),
             "capacity": ("5 lb", "20 lb", "40 lb")}, complements=("bird_feeders",),
       price=(6, 45)),
    _t("bird_feeders", "Fish & Bird > Birds > Bird Feeders", ("Bird Feeder", "Hanging Feeder",
       "Tube Feeder"), ("bird feeder",), dims={"material": ("cedar", "metal mesh",
       "recycled plastic"), "feature": ("squirrel proof",)}, complements=("bird_seed",),
       price=(12, 80)),
    # --- Garden
    _t("garden_hoses", "Garden > Watering > Garden Hoses", ("Garden Hose", "Watering Hose",
       "Lawn Hose"), ("garden hose", "hose"), synonyms=("water hose",),
       dims={"size": ("25 ft", "50 ft", "100 ft"), "material": ("rubber", "vinyl", "latex"),
             "feature": ("kink free", "expandable")}, complements=("hose_nozzles",),
       price=(15, 90), weight=1.2),
    _t("hose_nozzles", "Garden > Watering > Hose Nozzles", ("Hose Nozzle", "Spray Nozzle",
       "Watering Wand"), ("hose nozzle", "spray nozzle"), synonyms=("sprayer",),
       dims={"material": ("zinc", "aluminum", "brass"), "feature": ("7 patterns", "thumb control")},
       complements=("garden_hoses",), price=(6, 35)),
    _t("potting_soil", "Garden > Soil > Potting Soil", ("Potting Mix", "Potting Soil",
       "Raised Bed Soil"), ("potting soil", "potting mix"), synonyms=("dirt", "compost"),
       dims={"capacity": ("8 qt", "1 cu ft", "2 cu ft"),
             "feature": ("organic", "moisture control")},
       complements=("planters", "vegetable_seeds"), price=(5, 30), weight=1.3),
    _t("planters", "Garden > Containers > Planters", ("Planter", "Flower Pot", "Self Watering Pot"),
       ("planter", "flower pot"), synonyms=("plant pot",),
       dims={"material": ("terracotta", "fiberglass", "cedar"), "size": ("6 in", "10 in",
       "14 in"), "color": ("terracotta", "slate", "cream", "olive")},
       complements=("potting_soil",), price=(8, 80)),
    _t("vegetable_seeds", "Garden > Seeds > Vegetable Seeds", ("Vegetable Seeds", "Seed Packet",
       "Garden Seeds"), ("vegetable seeds", "seeds"), synonyms=("seed packets",),
       dims={"material": ("tomato", "pepper", "cucumber", "zucchini", "lettuce"),
             "pack": ("1", "5", "10"), "feature": ("heirloom", "organic")},
       complements=("potting_soil",), price=(2, 25)),
    _t("pruning_shears", "Garden > Tools > Pruning Shears", ("Pruning Shears", "Bypass Pruner",
       "Hand Pruner"), ("pruning shears", "pruners"), synonyms=("secateurs", "clippers"),
       dims={"material": ("carbon blade", "titanium coated"), "feature": ("ratchet", "ergonomic")},
       price=(10, 60)),
    _t("lawn_mowers", "Garden > Lawn > Lawn Mowers", ("Lawn Mower", "Push Mower",
       "Walk-Behind Mower"), ("lawn mower", "mower"), synonyms=("grass cutter",),
       dims={"size": ("16 in deck", "20 in deck", "21 in deck"),
             "feature": ("self propelled", "mulching", "cordless")},
       complements=("mower_blades",), price=(150, 700)),
    _t("mower_blades", "Garden > Lawn > Mower Blades", ("Mower Blade", "Replacement Blade",
       "Mulching Blade"), ("mower blade", "lawn mower blade"), dims={"pack": ("1", "2")},
       complements=("lawn_mowers",), accessory_of="lawn_mowers", price=(12, 45)),
)

TAXONOMY = Taxonomy(TYPES, names_its_complement=frozenset({
    "dog_bowls", "hose_nozzles", "aquarium_filters", "bird_seed", "mower_blades"}))

STYLE = ShopStyle(
    brands=BrandStyle(
        heads=("Paw", "Whisk", "Bark", "Fetch", "Purr", "Wag", "Snout", "Fin", "Feather", "Sprout",
               "Bloom", "Fern", "Moss", "Thistle", "Petal", "Burrow", "Nibble", "Scruff",
               "Furry", "Kibbl", "Chirp", "Hopp", "Trowel", "Seedl", "Loam", "Root", "Bud"),
        tails=("buddy", "ster", "kin", "wise", "nest", "patch", "yard", "pal", "tail", "hound",
               "nook", "paws", "whisker", "plot", "bed", "sprig", "bloom", "zy"),
        extras=("", " Pet Co", " Garden", " & Co", " Outdoors", " Pets")),
    models=ModelStyle(
        lines=("Romp", "Trek", "Frolic", "Scout", "Roam", "Snuggle", "Gnaw", "Prowl", "Pounce",
               "Forage", "Thrive", "Sprint", "Dash", "Ramble", "Bask", "Tumble"),
        suffixes=("", "", "X", "S", "XT", "Plus"),
        template="{line} {gen}{suffix}"),
    titles=TitleStyle(
        separators=(" | ", " \u2022 ", " / "),
        marketing=("Vet Recommended", "Tail-Wagging", "Made in USA", "Pet Parent Favorite",
                   "Garden Tested", "Weatherproof", "Eco Friendly", "All Seasons"),
        compat_forms=("fits {d}", "Replacement for {d}", "{d} Replacement"),
        layout="brand_bar", goes_with="for", marketing_rate=0.4, brand_rate=0.95),
    queries=QueryStyle(variant_cuts=(0.14, 0.24, 0.3), post_rate=0.3,
                       compat_words=("for", "fits"), brand_by_rate=0.2),
    forms=ValueForms(
        colors={"charcoal": ("charcoal", "dark gray"), "camo": ("camo", "camouflage")},
        materials={"biothane": ("biothane", "coated webbing"), "nyjer": ("nyjer", "thistle seed")},
        features={"grain free": ("grain free", "grain-free", "no grain"),
                  "no pull": ("no pull", "no-pull", "anti pull"),
                  "squirrel proof": ("squirrel proof", "squirrel-proof"),
                  "kink free": ("kink free", "no kink")},
        pack_title=("{v}-Pack", "Set of {v}", "{v} Pcs"),
        pack_query=("{v} pack", "set of {v}", "{v} pcs")),
)

PETS_GARDEN = Family(2, "pets_garden", "Pets & garden: dog, cat, fish and bird supplies, "
                     "lawn and garden", TAXONOMY, STYLE,
                     launch_types=("dog_food", "dog_treats", "cat_food", "harnesses",
                                   "garden_hoses"))
