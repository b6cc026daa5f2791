"""A plain, valid search log of any size, for replay benchmarks and load tests.

This is not the simulator (no ground truth, no click model): it only makes contract-valid
search and feedback lines quickly, with realistic sizes (10 results per search, ~1
feedback event per search) and increasing timestamps.
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
    start: datetime = datetime(2026, 3, 1, tzinfo=UTC),
) -> int:
    """Write about `events` lines (searches and their feedback); returns the exact count."""
    rng = random.Random(seed)
    ts = start
    written = 0
    with path.open("w", encoding="utf-8") as fh:
        n = 0
        while written < events:
            n += 1
            ts += timedelta(milliseconds=rng.randint(5, 400))
            query = " ".join(rng.sample(_WORDS, rng.randint(1, 4)))
            results = [{"item_id": f"i{rng.randrange(items)}", "position": p}
                       for p in range(1, 11)]
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
