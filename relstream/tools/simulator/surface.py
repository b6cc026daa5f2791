"""How canonical attribute values are written: in titles, in queries, in `attributes`.

Sellers and shoppers write the same value many ways ("Men's", "mens", "for men";
"20000mAh", "20K mAh"; "gray", "grey"). Varying the surface while the ground truth stays
on canonical values is what keeps word overlap from being the same thing as relevance.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

_WORD = re.compile(r"[a-z0-9]+")

TITLE_GENDER = {
    "men": ("Men's", "Mens", "for Men", "Men"),
    "women": ("Women's", "Womens", "for Women", "Ladies"),
    "kids": ("Kids", "Kids'", "Youth", "Boys & Girls"),
    "unisex": ("Unisex", "Unisex Adult"),
}
QUERY_GENDER = {
    "men": ("men", "mens", "men's", "for men", "male"),
    "women": ("women", "womens", "women's", "ladies", "for women"),
    "kids": ("kids", "youth", "children", "boys"),
    "unisex": ("unisex",),
}
COLOR_VARIANTS: dict[str, tuple[str, ...]] = {
    "gray": ("gray", "grey"), "navy": ("navy", "navy blue"), "beige": ("beige", "khaki"),
    "clear": ("clear", "transparent"), "black": ("black", "blk"), "white": ("white", "wht"),
}
MATERIAL_VARIANTS: dict[str, tuple[str, ...]] = {
    "leather": ("leather", "genuine leather"), "stainless steel": ("stainless steel", "steel"),
    "memory foam": ("memory foam", "foam"), "cotton": ("cotton", "100% cotton"),
}
FEATURE_VARIANTS: dict[str, tuple[str, ...]] = {
    "waterproof": ("waterproof", "water resistant", "wp"), "nonstick": ("nonstick", "non-stick"),
    "noise cancelling": ("noise cancelling", "anc", "noise canceling"),
    "wireless": ("wireless", "bluetooth"), "fast charging": ("fast charging", "pd fast charge"),
    "non slip": ("non slip", "non-slip", "anti slip"), "wide": ("wide", "wide width", "ww"),
}




@dataclass(frozen=True)
class ValueForms:
    """One shop family's ways of writing colours, materials, features and pack counts.

    Each variants map goes from a canonical value to its written forms (the canonical one
    included); `shouted` forms are written upper case in titles and never typed in queries.
    Pack templates use `{v}` for the count.
    """

    colors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    materials: dict[str, tuple[str, ...]] = field(default_factory=dict)
    features: dict[str, tuple[str, ...]] = field(default_factory=dict)
    shouted: tuple[str, ...] = ()
    pack_title: tuple[str, ...] = ("{v}-Pack", "Pack of {v}", "{v} Pk", "{v} Count")
    pack_query: tuple[str, ...] = ("{v} pack", "pack of {v}", "{v}pk", "{v} count")


DEFAULT_FORMS = ValueForms(COLOR_VARIANTS, MATERIAL_VARIANTS, FEATURE_VARIANTS,
                           shouted=("blk", "wht"))
"""The general family's forms (what the simulator always wrote)."""


def tokens(text: str) -> list[str]:
    """Lower-cased alphanumeric words: the simulator's one tokeniser."""
    return _WORD.findall(text.lower())


def _titlecase(text: str) -> str:
    return " ".join(w if any(c.isdigit() for c in w) or w.isupper() else w.capitalize()
                    for w in text.split())


def _size_title(value: str, rng: random.Random) -> str:
    if value in ("xs", "s", "m", "l", "xl", "xxl"):
        long = {"xs": "X-Small", "s": "Small", "m": "Medium", "l": "Large", "xl": "X-Large",
                "xxl": "XX-Large"}[value]
        return rng.choice((long, value.upper(), f"Size {value.upper()}"))
    if value[0].isdigit() and " " not in value and "mm" not in value:
        return rng.choice((f"Size {value}", f"Sz {value}", f"US {value}", f"Size {value} US"))
    return _titlecase(value) if " " not in value else rng.choice((value.title(), value))


def _capacity_title(value: str, rng: random.Random) -> str:
    m = re.fullmatch(r"(\d+)(mah|gb|tb)", value)
    if m:
        num, unit = m.groups()
        unit_s = {"mah": "mAh", "gb": "GB", "tb": "TB"}[unit]
        forms = [f"{num}{unit_s}", f"{num} {unit_s}"]
        if unit == "mah" and int(num) >= 10000:
            forms.append(f"{int(num) // 1000}K {unit_s}")
        return rng.choice(forms)
    return rng.choice((value.title(), value.upper().replace(" ", ""), value))


def title_value(dim: str, value: str, rng: random.Random,
                forms: ValueForms = DEFAULT_FORMS) -> str:
    """How a seller writes `value` of `dim` in a title."""
    if dim == "gender":
        return rng.choice(TITLE_GENDER[value])
    if dim == "size":
        return _size_title(value, rng)
    if dim == "capacity":
        return _capacity_title(value, rng)
    if dim == "pack":
        return rng.choice(forms.pack_title).format(v=value)
    if dim == "color":
        word = rng.choice(forms.colors.get(value, (value,)))
        return word.upper() if word in forms.shouted else word.title()
    if dim == "material":
        return _titlecase(rng.choice(forms.materials.get(value, (value,))))
    if dim == "feature":
        word = rng.choice(forms.features.get(value, (value,)))
        return word.upper() if len(word) <= 3 else _titlecase(word)
    return _titlecase(value)


def query_value(dim: str, value: str, rng: random.Random,
                forms: ValueForms = DEFAULT_FORMS) -> str:
    """How a shopper types `value` of `dim` in a query."""
    if dim == "gender":
        return rng.choice(QUERY_GENDER[value])
    if dim == "size":
        if value in ("xs", "s", "m", "l", "xl", "xxl"):
            long = {"xs": "xs", "s": "small", "m": "medium", "l": "large", "xl": "xl",
                    "xxl": "xxl"}[value]
            return rng.choice((long, f"size {value}"))
        if value[0].isdigit() and " " not in value and "mm" not in value:
            return rng.choice((f"size {value}", f"sz {value}", value))
        return value
    if dim == "capacity":
        m = re.fullmatch(r"(\d+)(mah|gb|tb)", value)
        if m and m.group(2) == "mah" and int(m.group(1)) >= 10000:
            return rng.choice((value, f"{int(m.group(1)) // 1000}k mah", f"{m.group(1)} mah"))
        return rng.choice((value, value.replace(" ", "")))
    if dim == "pack":
        return rng.choice(forms.pack_query).format(v=value)
    if dim == "color":
        return rng.choice(tuple(v for v in forms.colors.get(value, (value,))
                                if v not in forms.shouted))
    if dim == "material":
        return rng.choice(forms.materials.get(value, (value,)))
    if dim == "feature":
        return rng.choice(forms.features.get(value, (value,)))
    return value


_KEYBOARD = {
    "a": "qs", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}


def typo(word: str, rng: random.Random) -> str:
    """One plausible typing slip in `word`: a dropped, swapped, doubled or wrong letter."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    op = rng.randrange(4)
    if op == 0:
        return word[:i] + word[i + 1:]
    if op == 1:
        return word[:i] + word[i + 1] + word[i] + word[i + 2:]
    if op == 2:
        return word[:i] + word[i] + word[i:]
    return word[:i] + rng.choice(_KEYBOARD.get(word[i], word[i])) + word[i + 1:]


def add_typo(query: str, rng: random.Random) -> str:
    """`query` with a slip in one of its longer alphabetic words (unchanged if none)."""
    words = query.split()
    spots = [i for i, w in enumerate(words) if len(w) >= 5 and w.isalpha()]
    if not spots:
        return query
    i = rng.choice(spots)
    words[i] = typo(words[i], rng)
    return " ".join(words)
