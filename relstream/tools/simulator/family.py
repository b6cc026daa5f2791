"""`Family`: one kind of shop, its product knowledge (`Taxonomy`) and its surface (`ShopStyle`).

A world is built for one family (`SimConfig.family`); the registry of families is
`relstream.tools.simulator.families`. Families differ in departments, product types, value pools,
synonyms, complements, brand and model names, title layout and query habits, so a model
that learned one shop's words meets mostly new words in another.
"""

from __future__ import annotations

from dataclasses import dataclass

from relstream.tools.simulator.errors import SimulatorError
from relstream.tools.simulator.style import ShopStyle
from relstream.tools.simulator.taxonomy import Taxonomy


@dataclass(frozen=True, eq=False)
class Family:
    """A shop family: id, name, taxonomy, style and the types a new brand may launch in."""

    id: int
    name: str
    description: str
    taxonomy: Taxonomy
    style: ShopStyle
    launch_types: tuple[str, ...]
    """Types the `new-brand` scenario picks two of (popular, brand-driven ones)."""

    def __post_init__(self) -> None:
        unknown = [k for k in self.launch_types if k not in self.taxonomy.by_key]
        if len(self.launch_types) < 2 or unknown:
            raise SimulatorError(f"family {self.name!r}: need two or more launch types that "
                                 f"exist in its taxonomy, unknown: {unknown}")
