"""A plain, valid search log of any size, for replay benchmarks and load tests.

This is not the simulator (no ground truth, no click model): it only makes contract-valid
search and feedback lines quickly, with realistic sizes (10 results per search, ~1
feedback event per search) and increasing timestamps.

Two query mixes: by default every search draws 1-4 words at random, so nearly every search
is a new query and every shown pair a new pair (the worst case for anything that keeps
state per query or pair). With `queries=N` searches come from a pool of N queries with
Zipf-distributed popularity (a few head queries, a long tail), and each query shows its
own result list (7 top items, 3 drawn from 20 more), as a search engine's would: the
same queries and pairs come back, as in a shop's log.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

from relstream.core.schemas import format_ts

_WORDS = ("running shoes black men trail waterproof case iphone charger usb c wireless "
          "earbuds hoodie cotton women size 10 blue kettle steel lego set").split()


def write_synthetic_log(
    path: Path, events: int, seed: int = 0, items: int = 5000,
    start: datetime = datetime(2026, 3, 1, tzinfo=UTC), queries: int | None = None,
) -> int:
    """Write about `events` lines (searches and their feedback); returns the exact count.
    `queries`: draw searches from a Zipf-popular pool of that many queries (see above)."""
    rng = random.Random(seed)
    pool = _query_pool(rng, queries, items) if queries else None
    ts = start
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        n = 0
        while written < events:
            n += 1
            ts += timedelta(milliseconds=rng.randint(5, 400))
            if pool is None:
                query = " ".join(rng.sample(_WORDS, rng.randint(1, 4)))
                shown = [f"i{rng.randrange(items)}" for _ in range(10)]
            else:
                query, top, more = pool[_zipf_rank(rng, len(pool))]
                shown = top + rng.sample(more, 3)
            results = [{"item_id": item_id, "position": p}
                       for p, item_id in enumerate(shown, start=1)]
            req, user = f"r{seed}-{n}", f"u{rng.randrange(5000)}"
            fh.write(json.dumps({"type": "search", "event_id": f"s{seed}-{n}",
                                 "ts": format_ts(ts), "request_id": req, "user_id": user,
                                 "query": query, "results": results}) + "\n")
            written += 1
            for k in range(rng.choice((0, 0, 1, 1, 2, 3))):
                if written >= events:
                    break
                fts = ts + timedelta(seconds=rng.uniform(1, 30))
                fh.write(json.dumps({"type": "feedback", "event_id": f"f{seed}-{n}-{k}",
                                     "ts": format_ts(fts), "request_id": req, "user_id": user,
                                     "item_id": rng.choice(results)["item_id"],
                                     "action": "click"}) + "\n")
                written += 1
    return written


def _query_pool(rng: random.Random, n: int, items: int
                ) -> list[tuple[str, list[str], list[str]]]:
    """`n` distinct queries, each with 7 top items and 20 more it may show."""
    pool: list[tuple[str, list[str], list[str]]] = []
    seen: set[str] = set()
    while len(pool) < n:
        query = " ".join(rng.sample(_WORDS, rng.randint(1, 4)))
        if len(seen) > n * 0.9 or query in seen:
            query = f"{query} {len(pool)}"  # the 24 words run out of short queries
        seen.add(query)
        shown = [f"i{k}" for k in rng.sample(range(items), min(27, items))]
        pool.append((query, shown[:7], shown[7:]))
    return pool


def _zipf_rank(rng: random.Random, n: int) -> int:
    """A rank in [0, n) with P(r) ∝ 1/(r+1) (Zipf, s=1), by inverting the continuous
    approximation of the harmonic sum: close enough for a load generator."""
    import math

    return min(n - 1, int(math.exp(rng.random() * math.log(n + 1))) - 1)
