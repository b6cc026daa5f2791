"""Root exception of the `streams` package and its specific kinds."""

from __future__ import annotations


class StreamsError(Exception):
    """Base of every error the `streams` package raises."""


class SchemaError(StreamsError):
    """Bytes that are not a valid event; the message is the dead-letter reason."""


class ReplayError(StreamsError):
    """A replay or record run could not proceed (missing file, bad time range, ...)."""
