"""The simulator's exception: a world could not be generated (a bad setting)."""

from __future__ import annotations

from relstream.core.errors import RelstreamError


class SimulatorError(RelstreamError):
    """A world could not be generated: a bad setting or an inconsistent family."""
