"""Root exception of the `feature_store` package."""

from __future__ import annotations


class FeatureStoreError(Exception):
    """Base of every error the `feature_store` package raises."""
