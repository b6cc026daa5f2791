"""How one shop family writes things: brand names, model names, titles and queries.

A `ShopStyle` bundles the surface choices that are not product knowledge: the syllables
its brand names are built from, how its model names look ("Glide 5 Pro", "TX-400 HD",
"Heritage Reserve"), its title layout, separators and marketing words, its query habits
and typo rate. The general family's style (`GENERAL_STYLE`) is exactly what the simulator
did before shop families existed, so its worlds stay byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from relstream.tools.simulator.surface import DEFAULT_FORMS, ValueForms

TitleLayout = Literal["brand_first", "noun_first", "brand_bar"]


@dataclass(frozen=True)
class BrandStyle:
    """Brand names: a head and a tail glued together, sometimes with an extra word."""

    heads: tuple[str, ...]
    tails: tuple[str, ...]
    extras: tuple[str, ...]
    """Appended to 25% of names ("" leaves the name as it is)."""

    @property
    def capacity(self) -> int:
        """How many distinct names (by first word) this style can make."""
        return len({(h + t).lower() for h in self.heads for t in self.tails})


@dataclass(frozen=True)
class ModelStyle:
    """Model names of a brand's product lines, e.g. `{line} {gen} {suffix}`.

    `template` may use `{line}`, `{gen}` (the generation number times `gen_scale`),
    `{suffix}` and `{variety}` (the generation's entry in `varieties`); consecutive
    generations of a line are the near-miss models.
    """

    lines: tuple[str, ...]
    suffixes: tuple[str, ...]
    template: str = "{line} {gen} {suffix}"
    gen_scale: int = 1
    varieties: tuple[str, ...] = ()

    def name(self, line: str, gen: int, suffix: str) -> str:
        variety = self.varieties[(gen - 1) % len(self.varieties)] if self.varieties else ""
        text = self.template.format(line=line, gen=gen * self.gen_scale, suffix=suffix,
                                    variety=variety)
        return " ".join(text.split())


@dataclass(frozen=True)
class TitleStyle:
    """Title layout and wording of one shop's sellers."""

    separators: tuple[str, ...]
    marketing: tuple[str, ...]
    compat_forms: tuple[str, ...]
    """How a title says which device an accessory fits; `{d}` is the device."""
    layout: TitleLayout = "brand_first"
    """`brand_first`: "Brand Model Attr Noun, tail"; `noun_first`: "Attr Noun, tail, Brand
    Model"; `brand_bar`: "Brand Model, Attr Noun, tail"."""
    goes_with: str = "for"
    """Joins a complement's noun to the one it goes with ("Socks for Running Shoes")."""
    marketing_rate: float = 0.5
    brand_rate: float = 0.9
    model_rate: float = 0.9


@dataclass(frozen=True)
class QueryStyle:
    """How shoppers of one shop type their queries."""

    variant_cuts: tuple[float, float, float] = (0.12, 0.2, 0.28)
    """Cumulative draw cut-offs for the synonym, typo and reordered variants (kept as
    written, not summed, so the general family draws exactly as it always did)."""
    bare_typo_rate: float = 0.5
    """Share of bare type queries that also get a misspelt twin."""
    post_rate: float = 0.25
    """Share of colour/material/feature words typed after the noun rather than before."""
    compat_words: tuple[str, ...] = ("for",)
    """Words that lead a device named after the noun ("case for nova 12")."""
    lead_words: tuple[str, ...] = ()
    lead_rate: float = 0.0
    """Share of queries starting with one of `lead_words` ("best", "cheap")."""
    brand_by_rate: float = 0.0
    """Share of brand queries typed as "<noun> by <brand>" instead of "<brand> <noun>"."""


@dataclass(frozen=True)
class ShopStyle:
    """Everything about a shop's surface that is not product knowledge."""

    brands: BrandStyle
    models: ModelStyle
    titles: TitleStyle
    queries: QueryStyle = field(default_factory=QueryStyle)
    forms: ValueForms = DEFAULT_FORMS


GENERAL_STYLE = ShopStyle(
    brands=BrandStyle(
        heads=("Vel", "Tor", "Zen", "Quar", "Lum", "Bri", "Kes", "Nor", "Ori", "Pax", "Stri",
               "Trai", "Vol", "Aur", "Cal", "Dra", "Eko", "Fen", "Gal", "Hal", "Iso", "Jun",
               "Kai", "Lyr", "Mar", "Nex", "Oma", "Pol", "Rho", "Sol", "Tam", "Ulm", "Ver",
               "Wyn", "Xan", "Yar", "Zo", "Alt", "Bo", "Cor"),
        tails=("ix", "ora", "ent", "ly", "wave", "peak", "line", "co", "ara", "on", "ux", "io",
               "ena", "tek", "vo", "ric", "sta", "mo", "den", "field"),
        extras=("", " Labs", " Co", " Home", " Sport", " Gear")),
    models=ModelStyle(
        lines=("Glide", "Nomad", "Pulse", "Aero", "Flex", "Core", "Apex", "Drift", "Nova",
               "Echo", "Terra", "Swift", "Luna", "Orbit", "Ridge", "Summit", "Zephyr", "Atlas",
               "Vista", "Comet", "Breeze", "Vertex", "Prime", "Halo", "Edge", "Quest",
               "Sierra", "Aspen", "Fusion", "Pilot", "Rover", "Sonic", "Tempo", "Arc", "Bolt",
               "Cruz", "Dune"),
        suffixes=("", "", "", "Pro", "Lite", "Max", "Plus")),
    titles=TitleStyle(
        separators=(", ", " - ", " | ", " "),
        marketing=("Premium", "New", "2026 Edition", "Upgraded", "Classic", "Everyday",
                   "Original", "Best Seller", "Durable", "Stylish", "Value", "Essential",
                   "Signature"),
        compat_forms=("for {d}", "Compatible with {d}", "{d}", "Designed for {d}")),
)
"""The general marketplace's style: what the simulator wrote before shop families."""
