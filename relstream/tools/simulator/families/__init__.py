"""The registry of shop families: `FAMILIES[n]` is family `n`; family 0 is the default.

Family 0 (`general`) is the marketplace the simulator always built; families 1-5 are
shops of other trades with their own words (see docs/simulator.md for the table).
"""

from __future__ import annotations

from relstream.tools.simulator.errors import SimulatorError
from relstream.tools.simulator.families.auto_tools import AUTO_TOOLS
from relstream.tools.simulator.families.baby_health import BABY_HEALTH
from relstream.tools.simulator.families.general import GENERAL
from relstream.tools.simulator.families.grocery import GROCERY
from relstream.tools.simulator.families.office_books import OFFICE_BOOKS
from relstream.tools.simulator.families.pets_garden import PETS_GARDEN
from relstream.tools.simulator.family import Family

FAMILIES: tuple[Family, ...] = (GENERAL, GROCERY, PETS_GARDEN, AUTO_TOOLS, OFFICE_BOOKS,
                                BABY_HEALTH)


def get_family(family: int | str) -> Family:
    """Family by id (0-5) or name (`general`, `grocery`, ...)."""
    for f in FAMILIES:
        if family in (f.id, f.name) or (isinstance(family, str) and family == str(f.id)):
            return f
    raise SimulatorError(f"family {family!r} is not one of "
                         f"{[(f.id, f.name) for f in FAMILIES]}")
