"""Product knowledge of a simulated shop: `ProductType` (one leaf category) and `Taxonomy`.

Each `ProductType` says which attribute dimensions its items carry (with canonical value
pools), how titles and shoppers name it, which types are its complements, and which
substitute family it belongs to. A `Taxonomy` is one shop family's table of types with the
relations ground truth, titles, queries and CoTs are all derived from, so the rules stay
consistent within a shop. The tables themselves live in `relstream.tools.simulator.families`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from relstream.tools.simulator.errors import SimulatorError

DIMENSIONS: tuple[str, ...] = (
    "type", "brand", "model", "color", "size", "gender", "material", "capacity",
    "compatibility", "pack", "feature",
)
"""The fixed vocabulary of dimensions used in intents, item attributes and CoT checks.

Every shop family draws its values from its own pools, but on these dimensions only, so
the CoT format and the query metadata read the same in every family."""


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


def product_type(key: str, path: str, title: tuple[str, ...], query: tuple[str, ...],
                 **kwargs: object) -> ProductType:
    """Shorthand for the family tables: key, category path, title nouns, query nouns."""
    return ProductType(key, path, title, query, **kwargs)  # type: ignore[arg-type]


@dataclass(frozen=True, eq=False)
class Taxonomy:
    """One shop's product types and the relations between them.

    `names_its_complement` lists the small complement types whose titles often name what
    they go with ("Socks for Running Shoes").
    """

    types: tuple[ProductType, ...]
    names_its_complement: frozenset[str] = frozenset()
    by_key: dict[str, ProductType] = field(init=False, repr=False)
    device_types: tuple[str, ...] = field(init=False, repr=False)
    """Types that accessories are made for, sorted."""
    departments: tuple[str, ...] = field(init=False, repr=False)
    """Top-level departments in table order."""

    def __post_init__(self) -> None:
        by_key = {t.key: t for t in self.types}
        if len(by_key) != len(self.types):
            raise SimulatorError("taxonomy: two product types share a key")
        for t in self.types:
            bad = [d for d in t.dims if d not in DIMENSIONS]
            unknown = [c for c in t.complements if c not in by_key]
            if bad or unknown or not t.title_nouns or not t.query_nouns:
                raise SimulatorError(
                    f"taxonomy: type {t.key!r} has dims {bad} outside DIMENSIONS, unknown "
                    f"complements {unknown}, or no title/query nouns")
            if t.accessory_of is not None and t.accessory_of not in by_key:
                raise SimulatorError(f"taxonomy: {t.key!r} is an accessory of unknown type "
                                     f"{t.accessory_of!r}")
        for k in self.names_its_complement:
            if k not in by_key:
                raise SimulatorError(f"taxonomy: names_its_complement has unknown type {k!r}")
        object.__setattr__(self, "by_key", by_key)
        object.__setattr__(self, "device_types", tuple(sorted(
            {t.accessory_of for t in self.types if t.accessory_of})))
        object.__setattr__(self, "departments", tuple(dict.fromkeys(
            t.department for t in self.types)))

    def complements_of(self, t: ProductType) -> tuple[str, ...]:
        """Every type that complements `t`, whichever side declared it."""
        return tuple(u.key for u in self.types if is_complement(t, u))


def same_family(a: ProductType, b: ProductType) -> bool:
    """Different types that are functional substitutes (running shoes and sneakers)."""
    return a.key != b.key and a.family is not None and a.family == b.family


def is_complement(a: ProductType, b: ProductType) -> bool:
    """Complements are symmetric: a case goes with a phone and a phone with a case."""
    return b.key in a.complements or a.key in b.complements
