"""Root exception of the `streams` package and its specific kinds."""

from __future__ import annotations


class StreamsError(Exception):
    """Base of every error the `streams` package raises."""


class ReplayError(StreamsError):
    """A replay or record run could not proceed (missing file, bad time range, ...)."""
