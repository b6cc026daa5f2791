"""Root exception of the `serving` package."""

from __future__ import annotations


class ServingError(Exception):
    """Base of every error the `serving` package raises."""
