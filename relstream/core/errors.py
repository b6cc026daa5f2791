"""Errors of the core layer. `RelstreamError` is the root every core error derives from."""

from __future__ import annotations


class RelstreamError(Exception):
    """Base of every error raised by the core layer (and the CLI and local stack)."""


class StackError(RelstreamError):
    """A local service (Kafka broker, Redis) could not be installed, started or stopped."""


class SchemaError(RelstreamError):
    """Bytes that are not a valid event; the message is the dead-letter reason."""


class ShopFileError(RelstreamError):
    """A shop directory's file (catalog, search log, labels, splits) is missing or corrupt."""
