"""The simulated world's product knowledge: departments, product types and their dimensions.

Each `ProductType` is one leaf category. It says which attribute dimensions its items
carry (with canonical value pools), how titles and shoppers name it, which types are its
complements, and which substitute family it belongs to. Ground truth, titles, queries
and CoTs are all derived from this one table, so the rules stay consistent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

DIMENSIONS: tuple[str, ...] = (
    "type", "brand", "model", "color", "size", "gender", "material", "capacity",
    "compatibility", "pack", "feature",
)
"""The fixed vocabulary of dimensions used in intents, item attributes and CoT checks."""

SHOE_SIZES = tuple(str(s) for s in (5, 6, 7, 8, 9, 10, 11, 12, 13)) + ("7.5", "8.5", "9.5", "10.5")
APPAREL_SIZES = ("xs", "s", "m", "l", "xl", "xxl")
BASIC_COLORS = ("black", "white", "gray", "navy", "blue", "red", "green", "pink", "beige",
                "brown", "purple", "yellow", "orange")
METAL_COLORS = ("black", "silver", "gold", "white", "blue", "gray", "green", "pink")
WEAR_GENDERS = ("men", "women", "unisex")
KID_GENDERS = ("men", "women", "kids", "unisex")


@dataclass(frozen=True)
class ProductType:
    """One leaf category and everything the simulator knows about it."""

    key: str
    path: str
    title_nouns: tuple[str, ...]
    query_nouns: tuple[str, ...]
    dims: dict[str, tuple[str, ...]] = field(default_factory=dict)
    synonyms: tuple[str, ...] = ()
    complements: tuple[str, ...] = ()
    family: str | None = None
    accessory_of: str | None = None
    """Device type whose models this accessory must fit (its `compatibility` values)."""
    price: tuple[float, float] = (10.0, 100.0)
    weight: float = 1.0

    @property
    def department(self) -> str:
        return self.path.split(" > ")[0]

    @property
    def noun(self) -> str:
        """The canonical query noun, used in CoT query analysis."""
        return self.query_nouns[0]


def _t(key: str, path: str, title: tuple[str, ...], query: tuple[str, ...],
       **kwargs: object) -> ProductType:
    return ProductType(key, path, title, query, **kwargs)  # type: ignore[arg-type]


SHOE = {"color": BASIC_COLORS, "size": SHOE_SIZES, "gender": KID_GENDERS}
SOCK_COMPLEMENTS = ("socks",)

TYPES: tuple[ProductType, ...] = (
    # --- Shoes
    _t("running_shoes", "Shoes > Athletic > Running Shoes",
       ("Running Shoe", "Running Shoes", "Road Running Shoe", "Running Sneaker"),
       ("running shoes", "running shoe"), synonyms=("jogging shoes", "runners"),
       dims={**SHOE, "material": ("mesh", "knit", "synthetic"),
             "feature": ("waterproof", "wide", "lightweight", "trail")},
       complements=SOCK_COMPLEMENTS + ("insoles",), family="athletic_shoes",
       price=(45, 180), weight=2.0),
    _t("sneakers", "Shoes > Casual > Sneakers",
       ("Sneaker", "Sneakers", "Casual Sneaker", "Low Top Sneaker", "Fashion Sneaker"),
       ("sneakers", "sneaker"), synonyms=("trainers", "tennis shoes", "kicks"),
       dims={**SHOE, "material": ("canvas", "leather", "suede", "knit")},
       complements=SOCK_COMPLEMENTS + ("insoles",), family="athletic_shoes",
       price=(35, 150), weight=1.8),
    _t("hiking_boots", "Shoes > Outdoor > Hiking Boots",
       ("Hiking Boot", "Hiking Boots", "Trekking Boot", "Backpacking Boot"),
       ("hiking boots", "hiking boot"), synonyms=("trekking boots", "trail boots"),
       dims={**SHOE, "material": ("leather", "suede", "synthetic"),
             "feature": ("waterproof", "insulated", "wide")},
       complements=SOCK_COMPLEMENTS + ("insoles",), family="boots", price=(60, 220)),
    _t("sandals", "Shoes > Casual > Sandals", ("Sandal", "Sandals", "Slide Sandal"),
       ("sandals", "sandal"), synonyms=("slides", "flip flops"),
       dims={"color": BASIC_COLORS, "size": SHOE_SIZES, "gender": KID_GENDERS,
             "material": ("leather", "rubber", "foam")}, price=(15, 80)),
    _t("dress_shoes", "Shoes > Formal > Dress Shoes", ("Oxford Dress Shoe", "Dress Shoe", "Loafer"),
       ("dress shoes", "oxford shoes"), synonyms=("formal shoes",),
       dims={"color": ("black", "brown", "navy", "burgundy"), "size": SHOE_SIZES,
             "gender": WEAR_GENDERS, "material": ("leather", "suede", "patent leather"),
             "feature": ("wide",)}, complements=SOCK_COMPLEMENTS, price=(50, 250)),
    _t("slippers", "Shoes > Casual > Slippers",
       ("Slipper", "House Slippers", "Memory Foam Slipper"),
       ("slippers", "house slippers"), dims={"color": BASIC_COLORS, "size": SHOE_SIZES,
       "gender": KID_GENDERS, "material": ("wool", "fleece", "suede")}, price=(12, 60)),
    _t("insoles", "Shoes > Shoe Care > Insoles",
       ("Insoles", "Shoe Inserts", "Arch Support Insoles"),
       ("insoles", "shoe insoles"), synonyms=("shoe inserts",),
       dims={"size": SHOE_SIZES, "gender": WEAR_GENDERS, "material": ("foam", "gel", "cork"),
             "pack": ("1", "2")}, price=(8, 45), weight=0.6),
    # --- Clothing
    _t("socks", "Clothing > Socks", ("Socks", "Crew Socks", "Athletic Socks", "Ankle Socks"),
       ("socks", "athletic socks"), synonyms=("crew socks",),
       dims={"color": ("black", "white", "gray", "navy", "pink"), "gender": KID_GENDERS,
             "material": ("cotton", "wool", "bamboo", "polyester"), "pack": ("3", "6", "12"),
             "feature": ("cushioned", "moisture wicking")},
       complements=("running_shoes", "sneakers", "hiking_boots", "dress_shoes"),
       price=(8, 35), weight=1.2),
    _t("t_shirts", "Clothing > Tops > T-Shirts", ("T-Shirt", "Tee", "Crew Neck T-Shirt", "Tshirt"),
       ("t shirt", "tshirt", "tee"), synonyms=("tee shirt",),
       dims={"color": BASIC_COLORS, "size": APPAREL_SIZES,
             "gender": KID_GENDERS, "material": ("cotton", "polyester", "linen"),
             "pack": ("1", "3")}, family="tops", price=(8, 40), weight=1.5),
    _t("hoodies", "Clothing > Tops > Hoodies", ("Hoodie", "Pullover Hoodie", "Hooded Sweatshirt"),
       ("hoodie", "hoodies"), synonyms=("hooded sweatshirt", "sweatshirt"),
       dims={"color": BASIC_COLORS, "size": APPAREL_SIZES, "gender": KID_GENDERS,
             "material": ("cotton", "fleece", "polyester")}, family="tops", price=(20, 80)),
    _t("jackets", "Clothing > Outerwear > Jackets", ("Jacket", "Rain Jacket", "Puffer Jacket"),
       ("jacket", "jackets"), synonyms=("coat",),
       dims={"color": BASIC_COLORS, "size": APPAREL_SIZES, "gender": WEAR_GENDERS,
             "material": ("nylon", "polyester", "down", "fleece"),
             "feature": ("waterproof", "insulated", "packable")}, price=(40, 250), weight=1.3),
    _t("jeans", "Clothing > Bottoms > Jeans", ("Jeans", "Slim Fit Jeans", "Straight Leg Jean"),
       ("jeans", "denim jeans"), synonyms=("denim pants",),
       dims={"color": ("blue", "black", "gray", "white"), "size": ("28", "30", "32", "34", "36"),
             "gender": WEAR_GENDERS, "feature": ("stretch", "slim fit", "relaxed fit")},
       family="pants", price=(25, 120)),
    _t("leggings", "Clothing > Bottoms > Leggings", ("Leggings", "Yoga Pants", "Workout Leggings"),
       ("leggings", "yoga pants"), synonyms=("tights",),
       dims={"color": BASIC_COLORS, "size": APPAREL_SIZES, "gender": ("women", "kids"),
             "feature": ("high waist", "pockets")}, family="pants", price=(15, 70)),
    # --- Electronics
    _t("smartphones", "Electronics > Phones > Smartphones", ("Smartphone", "5G Smartphone",
       "Unlocked Phone", "Cell Phone"), ("phone", "smartphone"), synonyms=("cell phone", "mobile"),
       dims={"color": METAL_COLORS, "capacity": ("128gb", "256gb", "512gb", "1tb")},
       complements=("phone_cases", "screen_protectors", "charging_cables", "wall_chargers",
                    "power_banks"), price=(199, 1299), weight=1.4),
    _t("tablets", "Electronics > Tablets", ("Tablet", "Tablet PC", "Android Tablet"),
       ("tablet", "tablets"), synonyms=("pad",),
       dims={"color": METAL_COLORS, "capacity": ("64gb", "128gb", "256gb")},
       complements=("tablet_cases", "charging_cables", "wall_chargers"), family="computers",
       price=(129, 999)),
    _t("laptops", "Electronics > Computers > Laptops", ("Laptop", "Notebook", "Thin Laptop"),
       ("laptop", "laptops"), synonyms=("notebook computer",),
       dims={"color": ("silver", "gray", "black", "blue"), "capacity": ("256gb", "512gb", "1tb")},
       complements=("laptop_bags", "wall_chargers"), family="computers", price=(399, 2499)),
    _t("smartwatches", "Electronics > Wearables > Smartwatches", ("Smartwatch", "Smart Watch",
       "Fitness Smartwatch"), ("smartwatch", "smart watch"), synonyms=("fitness watch",),
       dims={"color": METAL_COLORS, "size": ("41mm", "45mm")},
       complements=("watch_bands", "charging_cables"), price=(99, 499)),
    _t("headphones", "Electronics > Audio > Headphones", ("Headphones", "Over-Ear Headphones",
       "Wireless Headphones", "Earbuds"), ("headphones", "earbuds"), synonyms=("earphones",),
       dims={"color": METAL_COLORS, "feature": ("wireless", "noise cancelling", "waterproof")},
       complements=("charging_cables",), price=(19, 399), weight=1.5),
    _t("power_banks", "Electronics > Accessories > Power Banks", ("Power Bank",
       "Portable Charger", "Battery Pack"), ("power bank", "portable charger"),
       synonyms=("battery pack",), dims={"color": ("black", "white", "blue"),
       "capacity": ("5000mah", "10000mah", "20000mah", "26800mah"),
       "feature": ("wireless", "fast charging")}, complements=("charging_cables",),
       family="chargers", price=(15, 80)),
    _t("phone_cases", "Electronics > Accessories > Phone Cases", ("Case", "Phone Case",
       "Protective Case", "Clear Case"), ("case", "phone case"), synonyms=("cover", "phone cover"),
       dims={"color": ("black", "clear", "blue", "pink", "green", "purple"),
             "material": ("silicone", "leather", "plastic"), "feature": ("magnetic", "rugged")},
       complements=("smartphones", "screen_protectors"), accessory_of="smartphones",
       price=(8, 50), weight=1.6),
    _t("screen_protectors", "Electronics > Accessories > Screen Protectors", ("Screen Protector",
       "Tempered Glass Screen Protector", "Glass Protector"), ("screen protector",
       "tempered glass"), dims={"pack": ("1", "2", "3"), "feature": ("privacy",)},
       complements=("smartphones", "phone_cases"), accessory_of="smartphones", price=(6, 25)),
    _t("tablet_cases", "Electronics > Accessories > Tablet Cases", ("Tablet Case", "Folio Case",
       "Keyboard Case"), ("tablet case", "tablet cover"), dims={"color": ("black", "blue", "gray",
       "pink"), "material": ("leather", "silicone", "plastic"), "feature": ("keyboard",)},
       complements=("tablets",), accessory_of="tablets", price=(12, 90)),
    _t("watch_bands", "Electronics > Accessories > Watch Bands", ("Watch Band", "Replacement Band",
       "Sport Band"), ("watch band", "watch strap"), synonyms=("strap",),
       dims={"color": BASIC_COLORS, "material": ("silicone", "leather", "nylon", "steel")},
       complements=("smartwatches",), accessory_of="smartwatches", price=(8, 50)),
    _t("charging_cables", "Electronics > Accessories > Charging Cables", ("Charging Cable",
       "USB C Cable", "Fast Charger Cable"), ("charging cable", "usb c cable"),
       synonyms=("charger cord",), dims={"color": ("black", "white", "red"),
       "pack": ("1", "2", "3"), "feature": ("braided", "fast charging")},
       complements=("smartphones", "tablets", "power_banks"), price=(6, 30)),
    _t("wall_chargers", "Electronics > Accessories > Wall Chargers", ("Wall Charger",
       "USB C Charger", "Charger Block"), ("wall charger", "charger"),
       synonyms=("charging block", "power adapter"), dims={"color": ("black", "white"),
       "pack": ("1", "2"), "feature": ("fast charging",)},
       complements=("smartphones", "tablets", "laptops"), family="chargers", price=(10, 60)),
    _t("laptop_bags", "Electronics > Accessories > Laptop Bags", ("Laptop Bag", "Laptop Backpack",
       "Laptop Sleeve"), ("laptop bag", "laptop backpack"), synonyms=("computer bag",),
       dims={"color": ("black", "gray", "navy", "brown"), "size": ("13 inch", "15 inch",
       "17 inch"), "material": ("nylon", "leather", "canvas"), "feature": ("waterproof",)},
       complements=("laptops",), price=(20, 120)),
    # --- Home
    _t("bed_sheets", "Home > Bedding > Bed Sheets", ("Sheet Set", "Bed Sheets", "Fitted Sheet Set"),
       ("sheets", "bed sheets"), synonyms=("sheet set",), dims={"color": ("white", "gray",
       "beige", "navy", "blue", "pink"), "size": ("twin", "full", "queen", "king"),
       "material": ("cotton", "linen", "microfiber", "bamboo")}, complements=("pillows",),
       price=(25, 150), weight=1.2),
    _t("pillows", "Home > Bedding > Pillows", ("Pillow", "Bed Pillow", "Memory Foam Pillow"),
       ("pillow", "pillows"), dims={"size": ("standard", "queen", "king"), "pack": ("1", "2", "4"),
       "material": ("memory foam", "down", "polyester")}, complements=("bed_sheets",),
       price=(15, 90)),
    _t("towels", "Home > Bath > Towels", ("Bath Towel Set", "Towels", "Bath Towels"),
       ("towels", "bath towels"), dims={"color": ("white", "gray", "beige", "navy", "blue"),
       "material": ("cotton", "bamboo", "microfiber"), "pack": ("2", "4", "6")}, price=(15, 70)),
    _t("lamps", "Home > Lighting > Lamps", ("Table Lamp", "Desk Lamp", "LED Lamp"),
       ("lamp", "desk lamp"), synonyms=("light",), dims={"color": ("black", "white", "gold",
       "silver"), "material": ("metal", "ceramic", "wood"), "feature": ("dimmable", "usb port")},
       price=(15, 120)),
    _t("curtains", "Home > Decor > Curtains",
       ("Curtains", "Blackout Curtains", "Window Curtain Panels"),
       ("curtains", "window curtains"), synonyms=("drapes",), dims={"color": ("white", "gray",
       "beige", "navy", "green"), "size": ("63 inch", "84 inch", "96 inch"), "pack": ("1", "2"),
       "feature": ("blackout",)}, price=(15, 80)),
    # --- Kitchen
    _t("coffee_makers", "Kitchen > Appliances > Coffee Makers",
       ("Coffee Maker", "Drip Coffee Maker", "Coffee Machine"), ("coffee maker", "coffee machine"),
       synonyms=("coffee brewer",),
       dims={"color": ("black", "silver", "white", "red"), "capacity": ("4 cup", "12 cup"),
       "feature": ("programmable", "thermal carafe")}, complements=("coffee_filters",),
       price=(25, 250)),
    _t("coffee_filters", "Kitchen > Coffee > Coffee Filters", ("Coffee Filters", "Basket Filters",
       "Paper Coffee Filters"), ("coffee filters", "paper filters"), dims={"pack": ("100",
       "200", "500"), "material": ("paper", "bamboo")}, complements=("coffee_makers",),
       price=(4, 20)),
    _t("blenders", "Kitchen > Appliances > Blenders", ("Blender", "Countertop Blender",
       "Personal Blender"), ("blender", "blenders"), synonyms=("smoothie maker",),
       dims={"color": ("black", "silver", "white", "red"), "capacity": ("24 oz", "64 oz"),
       "feature": ("portable",)}, price=(25, 300)),
    _t("frying_pans", "Kitchen > Cookware > Frying Pans", ("Frying Pan", "Skillet", "Fry Pan"),
       ("frying pan", "skillet"), synonyms=("fry pan",), dims={"size": ("8 inch", "10 inch",
       "12 inch"), "material": ("cast iron", "stainless steel", "aluminum", "ceramic"),
       "feature": ("nonstick", "induction")}, complements=("spatulas",), family="cookware",
       price=(15, 150), weight=1.2),
    _t("spatulas", "Kitchen > Utensils > Spatulas", ("Spatula", "Turner", "Spatula Set"),
       ("spatula", "spatulas"), dims={"material": ("silicone", "wood", "stainless steel"),
       "pack": ("1", "3")}, complements=("frying_pans",), price=(5, 25)),
    _t("water_bottles", "Kitchen > Drinkware > Water Bottles", ("Water Bottle", "Insulated Bottle",
       "Sports Bottle"), ("water bottle", "water bottles"), synonyms=("flask",),
       dims={"color": BASIC_COLORS, "capacity": ("16 oz", "24 oz", "32 oz", "40 oz"),
       "material": ("stainless steel", "plastic", "glass")}, price=(10, 50), weight=1.2),
    _t("knife_sets", "Kitchen > Cutlery > Knife Sets", ("Knife Set", "Kitchen Knife Set",
       "Knife Block Set"), ("knife set", "kitchen knives"), dims={"pack": ("5", "8", "15"),
       "material": ("stainless steel", "ceramic", "carbon steel")}, family="cookware",
       price=(25, 300)),
    # --- Toys
    _t("building_blocks", "Toys > Building Toys > Building Blocks", ("Building Blocks",
       "Building Set", "Brick Set"), ("building blocks", "building set"), synonyms=("bricks",),
       dims={"pack": ("100", "500", "1000")}, price=(15, 150)),
    _t("dolls", "Toys > Dolls", ("Doll", "Fashion Doll", "Baby Doll"), ("doll", "dolls"),
       dims={"size": ("12 inch", "18 inch")}, price=(10, 60)),
    _t("rc_cars", "Toys > Remote Control > RC Cars", ("RC Car", "Remote Control Car",
       "Monster Truck"), ("rc car", "remote control car"), synonyms=("toy car",),
       dims={"color": ("red", "blue", "green", "black")}, price=(20, 120)),
    _t("puzzles", "Toys > Puzzles", ("Jigsaw Puzzle", "Puzzle"), ("puzzle", "jigsaw puzzle"),
       dims={"pack": ("500", "1000", "2000")}, family="games", price=(8, 40)),
    _t("board_games", "Toys > Games > Board Games", ("Board Game", "Family Board Game",
       "Strategy Game"), ("board game", "board games"), synonyms=("family game",),
       family="games", price=(15, 70)),
    # --- Beauty
    _t("shampoo", "Beauty > Hair Care > Shampoo", ("Shampoo", "Daily Shampoo",
       "Moisturizing Shampoo"), ("shampoo",), dims={"capacity": ("8 oz", "12 oz", "33 oz"),
       "pack": ("1", "2"), "feature": ("sulfate free", "anti dandruff")},
       complements=("conditioner",), price=(5, 40), weight=1.1),
    _t("conditioner", "Beauty > Hair Care > Conditioner", ("Conditioner", "Hair Conditioner"),
       ("conditioner", "hair conditioner"), dims={"capacity": ("8 oz", "12 oz", "33 oz"),
       "feature": ("sulfate free",)}, complements=("shampoo",), price=(5, 40)),
    _t("lipstick", "Beauty > Makeup > Lipstick", ("Lipstick", "Matte Lipstick", "Lip Color"),
       ("lipstick",), synonyms=("lip color",), dims={"color": ("red", "pink", "nude", "berry",
       "coral"), "feature": ("matte", "long lasting")}, price=(5, 40)),
    _t("moisturizer", "Beauty > Skin Care > Moisturizer", ("Moisturizer", "Face Cream",
       "Daily Moisturizer"), ("moisturizer", "face cream"), synonyms=("face lotion",),
       dims={"capacity": ("1.7 oz", "3.4 oz"), "feature": ("spf", "fragrance free")},
       price=(8, 60)),
    _t("hair_dryers", "Beauty > Tools > Hair Dryers", ("Hair Dryer", "Ionic Hair Dryer",
       "Blow Dryer"), ("hair dryer", "blow dryer"), dims={"color": ("black", "pink", "white"),
       "feature": ("ionic", "travel")}, price=(20, 300)),
    # --- Sports
    _t("yoga_mats", "Sports > Fitness > Yoga Mats", ("Yoga Mat", "Exercise Mat",
       "Non-Slip Yoga Mat"), ("yoga mat", "exercise mat"), dims={"color": BASIC_COLORS,
       "material": ("tpe", "pvc", "cork", "rubber"), "feature": ("non slip", "extra thick")},
       complements=("yoga_blocks",), price=(15, 100)),
    _t("yoga_blocks", "Sports > Fitness > Yoga Blocks", ("Yoga Block", "Yoga Blocks"),
       ("yoga block", "yoga blocks"), dims={"material": ("foam", "cork", "bamboo"),
       "pack": ("1", "2")}, complements=("yoga_mats",), price=(8, 30)),
    _t("dumbbells", "Sports > Fitness > Dumbbells", ("Dumbbell", "Dumbbell Set",
       "Hex Dumbbells"), ("dumbbells", "dumbbell set"), synonyms=("free weights", "hand weights"),
       dims={"capacity": ("5 lb", "10 lb", "20 lb", "50 lb"), "pack": ("1", "2")},
       price=(15, 250)),
    _t("tennis_rackets", "Sports > Racquet Sports > Tennis Rackets", ("Tennis Racket",
       "Tennis Racquet"), ("tennis racket", "tennis racquet"), dims={"color": ("black", "blue",
       "red", "white")}, complements=("tennis_balls",), price=(30, 250)),
    _t("tennis_balls", "Sports > Racquet Sports > Tennis Balls", ("Tennis Balls",
       "Pressurized Tennis Balls"), ("tennis balls",), dims={"pack": ("3", "4", "12")},
       complements=("tennis_rackets",), price=(4, 30)),
)

BY_KEY: dict[str, ProductType] = {t.key: t for t in TYPES}
DEVICE_TYPES: tuple[str, ...] = tuple(sorted({t.accessory_of for t in TYPES if t.accessory_of}))
DEPARTMENTS: tuple[str, ...] = tuple(dict.fromkeys(t.department for t in TYPES))


def same_family(a: ProductType, b: ProductType) -> bool:
    """Different types that are functional substitutes (running shoes and sneakers)."""
    return a.key != b.key and a.family is not None and a.family == b.family


def is_complement(a: ProductType, b: ProductType) -> bool:
    """Complements are symmetric: a case goes with a phone and a phone with a case."""
    return b.key in a.complements or a.key in b.complements


def complements_of(t: ProductType) -> tuple[str, ...]:
    """Every type that complements `t`, whichever side declared it."""
    return tuple(u.key for u in TYPES if is_complement(t, u))
