"""Family 3, `auto_tools`: an auto parts and power tools shop.

Car care, engine and brake parts, and cordless power tools: `capacity` is a volume,
voltage or amp-hours, `size` a length, thread or socket range, `material` a compound or
alloy. Cordless drills, impact drivers and saws are devices: batteries, saw blades and
drill bits made for one tool model fit only it. Brands are hard-edged compounds
("Torqmax Industrial"), models part numbers ("TX-400 HD"), titles keep the maker first
and list the specs after a dash.
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

TOOL_VOLTS = ("12v", "18v", "20v max", "40v")

TYPES: tuple[ProductType, ...] = (
    # --- Car Care
    _t("motor_oil", "Car Care > Fluids > Motor Oil", ("Motor Oil", "Motor Oil Jug",
       "Engine Oil"), ("motor oil", "engine oil"), synonyms=("synthetic oil",),
       dims={"size": ("sae 0w-20", "sae 5w-20", "sae 5w-30", "sae 10w-30"),
             "capacity": ("1 qt", "5 qt"), "material": ("full synthetic", "synthetic blend",
             "conventional"), "feature": ("high mileage",)},
       complements=("oil_filters", "funnels"), price=(8, 45), weight=1.8),
    _t("oil_filters", "Car Care > Filters > Oil Filters", ("Oil Filter", "Spin-On Oil Filter",
       "Engine Oil Filter"), ("oil filter",), dims={"size": ("3/4-16 thread", "m20x1.5 thread",
       "13/16-16 thread"), "pack": ("1", "2", "6")}, complements=("motor_oil",),
       price=(5, 25), weight=1.3),
    _t("air_filters", "Car Care > Filters > Engine Air Filters", ("Engine Air Filter",
       "Air Filter", "Cabin Air Filter"), ("air filter", "engine air filter"),
       synonyms=("cabin filter",), dims={"material": ("paper media", "cotton gauze"),
       "feature": ("washable",)}, price=(8, 45)),
    _t("wiper_blades", "Car Care > Exterior > Wiper Blades", ("Wiper Blade", "Beam Wiper Blade",
       "Windshield Wiper"), ("wiper blades", "windshield wipers"), synonyms=("wipers",),
       dims={"size": ("16 in", "18 in", "22 in", "26 in"), "pack": ("1", "2"),
             "material": ("silicone", "rubber")}, price=(8, 40), weight=1.2),
    _t("car_wax", "Car Care > Exterior > Car Wax", ("Car Wax", "Spray Wax",
       "Paste Wax"), ("car wax", "ceramic coating"), synonyms=("polish",),
       dims={"material": ("carnauba", "ceramic", "polymer"), "capacity": ("11 oz", "16 fl oz")},
       complements=("microfiber_towels",), price=(8, 50)),
    _t("microfiber_towels", "Car Care > Detailing > Microfiber Towels", ("Microfiber Towel",
       "Detailing Cloth", "Drying Towel"), ("microfiber towels", "detailing towels"),
       synonyms=("shop rags",), dims={"pack": ("6", "12", "24"), "color": ("yellow", "gray",
       "orange", "blue")}, complements=("car_wax",), price=(6, 30)),
    _t("funnels", "Car Care > Fluids > Funnels", ("Oil Funnel", "Spill-Free Funnel",
       "Flexible Funnel"), ("funnel", "oil funnel"), dims={"material": ("polyethylene",
       "steel")}, complements=("motor_oil",), price=(4, 20)),
    # --- Parts
    _t("brake_pads", "Parts > Brakes > Brake Pads", ("Brake Pads", "Brake Pad Set",
       "Disc Brake Pads"), ("brake pads",), synonyms=("brake shoes",),
       dims={"material": ("ceramic", "semi metallic", "organic"), "size": ("front axle",
       "rear axle"), "feature": ("low dust", "hardware included")},
       complements=("brake_rotors",), price=(20, 90), weight=1.4),
    _t("brake_rotors", "Parts > Brakes > Brake Rotors", ("Brake Rotor", "Rotor Disc",
       "Disc Rotor"), ("brake rotors", "rotors"), synonyms=("brake discs",),
       dims={"size": ("front axle", "rear axle"), "feature": ("drilled", "slotted")},
       complements=("brake_pads",), price=(30, 150)),
    _t("spark_plugs", "Parts > Ignition > Spark Plugs", ("Spark Plug", "Ignition Spark Plug",
       "Spark Plug Set"), ("spark plugs",), dims={"material": ("iridium", "platinum",
       "copper"), "pack": ("1", "4", "8")}, price=(3, 60)),
    _t("car_batteries", "Parts > Electrical > Car Batteries", ("Car Battery", "AGM Battery",
       "Automotive Battery"), ("car battery", "agm battery"), synonyms=("auto battery",),
       dims={"size": ("group 24f", "group 35", "group 48", "group 65"),
             "capacity": ("550 cca", "650 cca", "760 cca")},
       complements=("battery_chargers",), price=(90, 300)),
    _t("battery_chargers", "Parts > Electrical > Battery Chargers", ("Battery Charger",
       "Trickle Charger", "Smart Battery Maintainer"), ("battery charger", "trickle charger"),
       synonyms=("battery tender",), dims={"capacity": ("2 amp", "10 amp", "25 amp")},
       complements=("car_batteries",), family="jump_power", price=(25, 120)),
    _t("jump_starters", "Parts > Electrical > Jump Starters", ("Jump Starter",
       "Portable Jump Box", "Lithium Jump Starter"), ("jump starter", "jump box"),
       synonyms=("booster pack",), dims={"capacity": ("1000 peak amps", "2000 peak amps")},
       family="jump_power", price=(50, 200)),
    # --- Power Tools
    _t("cordless_drills", "Power Tools > Drills > Cordless Drills", ("Cordless Drill",
       "Drill Driver", "Hammer Drill"), ("cordless drill", "drill driver"),
       synonyms=("power drill",), dims={"capacity": TOOL_VOLTS,
       "feature": ("brushless", "tool only", "kit with case")}, family="drivers",
       complements=("tool_batteries", "drill_bits"), price=(60, 250), weight=1.5),
    _t("impact_drivers", "Power Tools > Drills > Impact Drivers", ("Impact Driver",
       "Cordless Impact Driver"), ("impact driver",), dims={"capacity": TOOL_VOLTS,
       "feature": ("brushless", "tool only")}, family="drivers",
       complements=("drill_bits",), price=(70, 250)),
    _t("circular_saws", "Power Tools > Saws > Circular Saws", ("Circular Saw",
       "Cordless Circular Saw", "Trim Saw"), ("circular saw",), synonyms=("skil saw",),
       dims={"capacity": TOOL_VOLTS, "size": ("6-1/2 in", "7-1/4 in")},
       complements=("saw_blades",), price=(80, 300)),
    _t("tool_batteries", "Power Tools > Batteries > Tool Batteries", ("Tool Battery",
       "Lithium Ion Battery Pack", "Replacement Battery"), ("tool battery", "drill battery"),
       dims={"capacity": ("2.0ah", "4.0ah", "6.0ah"), "pack": ("1", "2")},
       complements=("cordless_drills",), accessory_of="cordless_drills", price=(40, 180),
       weight=1.2),
    _t("saw_blades", "Power Tools > Accessories > Saw Blades", ("Saw Blade",
       "Circular Saw Blade", "Framing Blade"), ("saw blade", "circular saw blade"),
       dims={"size": ("6-1/2 in", "7-1/4 in"), "pack": ("1", "2", "3"),
             "material": ("carbide", "high speed steel")},
       complements=("circular_saws",), accessory_of="circular_saws", price=(10, 60)),
    _t("drill_bits", "Power Tools > Accessories > Drill Bits", ("Drill Bit Set",
       "Twist Drill Bits", "Jobber Drill Bits"), ("drill bits", "drill bit set"),
       dims={"material": ("titanium", "cobalt", "black oxide"), "pack": ("13", "21", "29")},
       complements=("cordless_drills",), price=(10, 70)),
    # --- Hand Tools
    _t("socket_sets", "Hand Tools > Sockets > Socket Sets", ("Socket Set", "Mechanics Tool Set",
       "Ratchet and Socket Set"), ("socket set", "mechanics tool set"), synonyms=("ratchet set",),
       dims={"size": ("1/4 in drive", "3/8 in drive", "1/2 in drive"),
             "pack": ("40", "100", "200"), "feature": ("sae and metric", "metric only")},
       family="wrenching", complements=("tool_boxes",), price=(25, 250), weight=1.2),
    _t("wrench_sets", "Hand Tools > Wrenches > Wrench Sets", ("Combination Wrench Set",
       "Ratcheting Wrench Set", "Spanner Set"), ("wrench set", "combination wrenches"),
       synonyms=("spanners",), dims={"pack": ("8", "16", "22"),
       "feature": ("sae and metric", "metric only")}, family="wrenching",
       complements=("tool_boxes",), price=(20, 150)),
    _t("tool_boxes", "Hand Tools > Storage > Tool Boxes", ("Tool Box", "Rolling Tool Chest",
       "Portable Toolbox"), ("tool box", "toolbox"), synonyms=("tool chest",),
       dims={"color": ("red", "black", "yellow"), "size": ("16 in", "22 in", "26 in"),
             "material": ("steel", "polypropylene")},
       complements=("socket_sets", "wrench_sets"), price=(20, 400)),
    _t("tire_inflators", "Hand Tools > Air > Tire Inflators", ("Tire Inflator",
       "Portable Air Compressor", "Digital Tire Pump"), ("tire inflator", "air compressor"),
       synonyms=("tire pump",), dims={"capacity": ("12v", "20v max"),
       "feature": ("auto shutoff", "digital gauge")}, price=(25, 120)),
)

TAXONOMY = Taxonomy(TYPES, names_its_complement=frozenset({
    "oil_filters", "funnels", "microfiber_towels", "saw_blades", "drill_bits"}))

STYLE = ShopStyle(
    brands=BrandStyle(
        heads=("Torq", "Grit", "Iron", "Volt", "Forge", "Steel", "Ratch", "Pist", "Crank", "Gear",
               "Hex", "Anvil", "Rivet", "Clutch", "Turbo", "Diesel", "Chrome", "Axle", "Blade",
               "Spark", "Carb", "Hydra", "Mag", "Titan", "Flint", "Brak", "Piston"),
        tails=("max", "worx", "line", "craft", "tech", "force", "point", "grip", "drive",
               "works", "core", "strike", "shop", "dyne", "flex", "rig", "mark", "lock"),
        extras=("", " Industrial", " Tools", " Motorsport", " Pro Series", " Automotive")),
    models=ModelStyle(
        lines=("TX", "RX", "MK", "GT", "ZR", "VX", "DX", "KR", "PT", "HX", "SR", "BR", "CT",
               "FX", "LT", "QX"),
        suffixes=("", "", "", "HD", "SE", "XD", "Turbo"),
        template="{line}-{gen} {suffix}", gen_scale=100),
    titles=TitleStyle(
        separators=(" - ", " -- ", " / "),
        marketing=("OEM Quality", "Heavy Duty", "Direct Fit", "Shop Grade", "Contractor Grade",
                   "Professional", "Lifetime Warranty", "Made in USA", "DOT Approved"),
        compat_forms=("fits {d}", "for {d}", "Replaces {d} OEM part"),
        layout="brand_first", goes_with="fits", marketing_rate=0.55),
    queries=QueryStyle(variant_cuts=(0.1, 0.2, 0.26), post_rate=0.45,
                       compat_words=("for", "fits"), lead_words=("heavy duty", "oem"),
                       lead_rate=0.04),
    forms=ValueForms(
        colors={"red": ("red",), "yellow": ("yellow", "hi-vis yellow")},
        materials={"full synthetic": ("full synthetic", "fully synthetic", "syn"),
                   "semi metallic": ("semi metallic", "semi-metallic"),
                   "high speed steel": ("high speed steel", "hss")},
        features={"brushless": ("brushless", "brushless motor"),
                  "sae and metric": ("sae and metric", "sae/metric"),
                  "tool only": ("tool only", "bare tool"), "high mileage": ("high mileage",
                  "high-mileage")},
        pack_title=("{v}-Piece", "{v} Pc", "Set of {v}", "{v}pc"),
        pack_query=("{v} piece", "{v} pc", "{v}pc")),
)

AUTO_TOOLS = Family(3, "auto_tools", "Auto parts & tools: car care, parts, power tools, "
                    "hand tools", TAXONOMY, STYLE,
                    launch_types=("motor_oil", "brake_pads", "cordless_drills", "socket_sets",
                                  "wiper_blades"))
