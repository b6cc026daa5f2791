"""The registry of shop families: `FAMILIES[n]` is family `n`; family 0 is the default.

Family 0 (`general`) is the marketplace the simulator always built; the others are shops
of other trades with their own words (see docs/simulator.md for the table).
"""

from __future__ import annotations

from streams.simulator.errors import SimulatorError
from streams.simulator.families.general import GENERAL
from streams.simulator.family import Family

FAMILIES: tuple[Family, ...] = (GENERAL,)


def get_family(family: int | str) -> Family:
    """Family by id or name (`general`, ...)."""
    for f in FAMILIES:
        if family in (f.id, f.name):
            return f
    raise SimulatorError(f"family {family!r} is not one of "
                         f"{[(f.id, f.name) for f in FAMILIES]}")
