"""The one way an item becomes text for models: teacher prompts, students, serving.

Format: `<title> | category: <leaf path> | brand: <brand> | <key>: <value>; ...` with the
attributes sorted by key so the same item always gives the same text.
"""

from __future__ import annotations

from relstream.core.schemas import CatalogItem


def item_text(item: CatalogItem) -> str:
    parts = [item.title.strip(), f"category: {item.category.strip()}"]
    if item.brand:
        parts.append(f"brand: {item.brand.strip()}")
    if item.attributes:
        parts.append("; ".join(f"{k}: {v}" for k, v in sorted(item.attributes.items())))
    return " | ".join(parts)
