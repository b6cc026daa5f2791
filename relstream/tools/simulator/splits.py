"""Query-level train/validation/test splits, so evaluation is on queries never trained on.

Queries are grouped by intent before splitting: "mens running shoes", "running shoes
men" and "runing shoes mens" state the same intent, and one of them in training would
leak the others' answers. Test queries in the tail bucket are also listed apart.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from relstream.tools.simulator.queries import SimQuery

SPLITS = ("train", "validation", "test")


def make_splits(queries: Sequence[SimQuery], fractions: Sequence[float],
                rng: random.Random) -> dict[str, list[str]]:
    """`{"train", "validation", "test", "test_long_tail"}` → sorted raw query strings."""
    groups: dict[str, list[SimQuery]] = {}
    for q in queries:
        groups.setdefault(q.intent.key, []).append(q)
    keys = sorted(groups)
    rng.shuffle(keys)
    cut1 = round(len(keys) * fractions[0])
    cut2 = cut1 + round(len(keys) * fractions[1])
    out: dict[str, list[str]] = {name: [] for name in SPLITS}
    for i, key in enumerate(keys):
        name = "train" if i < cut1 else ("validation" if i < cut2 else "test")
        out[name].extend(q.text for q in groups[key])
    test = set(out["test"])
    out["test_long_tail"] = [q.text for q in queries if q.text in test and q.bucket == "tail"]
    return {name: sorted(texts) for name, texts in out.items()}


def split_of(splits: dict[str, list[str]]) -> dict[str, str]:
    """Query → the split it belongs to (train, validation or test)."""
    return {q: name for name in SPLITS for q in splits.get(name, [])}
