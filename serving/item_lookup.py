"""Where serving gets item content by `item_id`: a small protocol, two implementations.

`MemoryItemLookup` holds a catalog.jsonl in memory (tests, demos, small catalogs);
`FeastItemLookup` reads the Feast online store through `feature_store.client.get_items`.
Both return `None` for an unknown item, which the API reports per item.
"""

from __future__ import annotations

import gzip
import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from relstream.core.errors import SchemaError
from relstream.core.item_text import item_text
from relstream.core.schemas import CatalogItem, decode_catalog_line
from relstream.core.settings import CommonSettings
from serving.errors import ServingError

log = logging.getLogger(__name__)


class ItemLookupError(ServingError):
    """The item source itself failed (not an unknown item, which is `None`)."""


class ItemLookup(Protocol):
    def get_items(self, item_ids: Sequence[str]) -> dict[str, CatalogItem | None]: ...


class MemoryItemLookup:
    """Items kept in a dict; `add` upserts (e.g. from the catalog topic)."""

    def __init__(self, items: Iterable[CatalogItem] = ()) -> None:
        self._items: dict[str, CatalogItem] = {}
        self._lock = threading.Lock()
        self.add(items)

    def add(self, items: Iterable[CatalogItem]) -> None:
        with self._lock:
            for item in items:
                self._items[item.item_id] = item

    def __len__(self) -> int:
        return len(self._items)

    def get_items(self, item_ids: Sequence[str]) -> dict[str, CatalogItem | None]:
        return {i: self._items.get(i) for i in item_ids}

    def texts(self) -> list[str]:
        """The scored text of every item (two-tower versions embed them ahead of requests)."""
        with self._lock:
            items = list(self._items.values())
        return [item_text(it) for it in items]

    @classmethod
    def from_jsonl(cls, path: Path) -> MemoryItemLookup:
        """Load a contract catalog file; bad lines are logged and skipped, never fatal."""
        opener = gzip.open if path.suffix == ".gz" else open
        items, bad = [], 0
        try:
            with opener(path, "rt", encoding="utf-8") as fh:  # type: ignore[operator]
                for lineno, line in enumerate(fh, 1):
                    if not line.strip():
                        continue
                    try:
                        items.append(decode_catalog_line(line))
                    except SchemaError as exc:
                        bad += 1
                        log.warning("%s:%d skipped: %s", path, lineno, exc)
        except OSError as exc:
            raise ItemLookupError(f"cannot read catalog {path}: {exc}") from exc
        if bad:
            log.warning("%s: %d bad line(s) skipped, %d items loaded", path, bad, len(items))
        return cls(items)


class FeastItemLookup:
    """Item content from the Feast online store (SQLite or Redis), by item_id."""

    def __init__(self, store: Any) -> None:
        self._store = store

    @classmethod
    def from_settings(cls, settings: CommonSettings) -> FeastItemLookup:
        """The features package's store for these settings (`feature_repo`, Redis or SQLite).

        Importing feast costs seconds, so it happens only when this source is configured.
        """
        from feature_store.config import open_store
        from feature_store.errors import FeatureStoreError

        try:
            return cls(open_store(settings))
        except FeatureStoreError as exc:
            raise ItemLookupError(str(exc)) from exc

    def get_items(self, item_ids: Sequence[str]) -> dict[str, CatalogItem | None]:
        from feature_store.client import get_items

        try:
            return get_items(self._store, list(item_ids))
        except Exception as exc:
            raise ItemLookupError(f"Feast online lookup of {len(item_ids)} items: {exc}") from exc
