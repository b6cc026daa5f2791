"""Traffic: users, sessions on a daily cycle, query choice over time, and the click model.

Searches arrive in sessions (a user searching one to several times a few seconds to two
minutes apart, often refining within the same product type). Feedback comes from a
position-based click model: the chance to look at a result falls with its position and
the chance to click a looked-at result depends on its grade, plus noise; add-to-cart and
purchase follow a click at lower, grade-dependent rates.
"""

from __future__ import annotations

import bisect
import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from relstream.core.schemas import Grade
from relstream.tools.simulator.queries import SimQuery

HOURLY = (0.25, 0.15, 0.1, 0.08, 0.08, 0.12, 0.3, 0.55, 0.75, 0.85, 0.9, 0.95,
          1.0, 0.95, 0.85, 0.8, 0.8, 0.85, 0.95, 1.0, 1.0, 0.9, 0.7, 0.45)
"""Relative search volume by hour of day (UTC): quiet nights, lunch and evening peaks."""
ATTRACT: dict[str, float] = {"E": 0.55, "S": 0.25, "C": 0.12, "I": 0.04}
CART: dict[str, float] = {"E": 0.3, "S": 0.15, "C": 0.15, "I": 0.03}
PURCHASE: dict[str, float] = {"E": 0.5, "S": 0.4, "C": 0.45, "I": 0.15}
NOISE_CLICK = 0.02


def examine_prob(position: int) -> float:
    """Position bias: the chance a user looks at the result at `position` (1-based)."""
    return 0.95 / position ** 0.75


_ByType = dict[str, tuple[list[SimQuery], list[float]]]


@dataclass(frozen=True)
class Search:
    """One search before retrieval: when, who, in which session, which query."""

    ts: float
    user: int
    session: int
    query: SimQuery


class QueryPicker:
    """Draws queries by popularity, with separate weights before and after a change."""

    def __init__(self, queries: Sequence[SimQuery], change_at: float | None,
                 weight_after: Callable[[SimQuery], float],
                 weight_before: Callable[[SimQuery], float]) -> None:
        self.queries = list(queries)
        self.change_at = change_at
        self.phases: list[tuple[list[float], _ByType]] = []
        for fn in (weight_before, weight_after):
            cum = list(itertools.accumulate(fn(q) for q in self.queries))
            by_type: _ByType = {}
            for q in self.queries:
                w = fn(q)
                if w > 0:
                    qs, ws = by_type.setdefault(q.intent.ptype, ([], []))
                    qs.append(q)
                    ws.append((ws[-1] if ws else 0.0) + w)
            self.phases.append((cum, by_type))

    def _phase(self, ts: float) -> tuple[list[float], _ByType]:
        after = self.change_at is not None and ts >= self.change_at
        return self.phases[1 if after else 0]

    def pick(self, ts: float, rng: random.Random) -> SimQuery:
        cum, _ = self._phase(ts)
        return self.queries[bisect.bisect_right(cum, rng.random() * cum[-1])]

    def pick_same_type(self, ts: float, ptype: str, rng: random.Random) -> SimQuery | None:
        _, by_type = self._phase(ts)
        if ptype not in by_type:
            return None
        qs, cum = by_type[ptype]
        return qs[min(bisect.bisect_right(cum, rng.random() * cum[-1]), len(qs) - 1)]


def _sample_time(start: float, seconds: float, rng: random.Random) -> float:
    while True:  # rejection sampling against the daily cycle
        t = start + rng.random() * seconds
        if rng.random() < HOURLY[int((t % 86400) // 3600)]:
            return t


def sample_searches(picker: QueryPicker, n_searches: int, n_users: int, start: float,
                    seconds: float, rng: random.Random) -> list[Search]:
    """`n_searches` searches in sessions, sorted by time."""
    user_cum = list(itertools.accumulate(rng.paretovariate(1.5) for _ in range(n_users)))
    out: list[Search] = []
    session = 0
    while len(out) < n_searches:
        t = _sample_time(start, seconds, rng)
        user = bisect.bisect_right(user_cum, rng.random() * user_cum[-1])
        user = min(user, n_users - 1)
        q = picker.pick(t, rng)
        for _ in range(1 + min(int(rng.expovariate(1.3)), 6)):
            out.append(Search(t, user, session, q))
            if len(out) >= n_searches:
                break
            t += rng.uniform(8, 120)
            refined = picker.pick_same_type(t, q.intent.ptype, rng) if rng.random() < 0.5 else None
            q = refined or picker.pick(t, rng)
        session += 1
    out.sort(key=lambda s: (s.ts, s.session))
    return out


def feedback_for(shown: Sequence[tuple[int, str, Grade]], ts: float,
                 rng: random.Random) -> list[tuple[float, str, str]]:
    """(ts, item_id, action) events for one result list of (position, item_id, grade)."""
    out: list[tuple[float, str, str]] = []
    clock = ts
    for position, item_id, grade in shown:
        if rng.random() >= examine_prob(position):
            continue
        if rng.random() >= ATTRACT[grade] and rng.random() >= NOISE_CLICK:
            continue
        clock += 2.0 + rng.expovariate(1 / 8.0)
        out.append((clock, item_id, "click"))
        if rng.random() < CART[grade]:
            cart = clock + 5.0 + rng.expovariate(1 / 40.0)
            out.append((cart, item_id, "add_to_cart"))
            if rng.random() < PURCHASE[grade]:
                out.append((cart + 20.0 + rng.expovariate(1 / 120.0), item_id, "purchase"))
    return out
