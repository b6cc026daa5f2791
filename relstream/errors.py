"""Root exception for the `relstream` package (CLI, settings, local stack)."""

from __future__ import annotations


class RelstreamError(Exception):
    """Base of every error raised by the `relstream` package itself."""


class StackError(RelstreamError):
    """A local service (Kafka broker, Redis) could not be installed, started or stopped."""
