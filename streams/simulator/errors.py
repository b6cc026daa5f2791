"""The simulator's exception, under the `streams` package's root exception."""

from __future__ import annotations

from streams.errors import StreamsError


class SimulatorError(StreamsError):
    """A world could not be generated or read: a bad setting or a missing/corrupt file."""
