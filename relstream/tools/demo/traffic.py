"""The demo's traffic driver: simulated users search, get scored results, and click.

A thread follows the replay clock: at each step it picks a search of the world that has
already happened in event time (a share of them from the new brand's queries), has it
made by a user drawn from all the world's users (so both arms get many users, not the
few who happened to search for the new brand), sends it to `/v1/score` and lets the
simulator's click model (`relstream.tools.loadgen.ab_sim.simulated_feedback`) react to
the order served.
What the user saw and did goes back to the `search-log` topic like any live traffic: a
`search` event with the served positions, then the feedback. So the stream processor
counts live impressions and asks the teacher about the pairs users see now (the new
brand's among them), and the server's feedback follower joins the clicks to its requests.
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from relstream.core.kafka_io import EventProducer
from relstream.core.schemas import Grade, SearchEvent, ShownResult, normalize_query
from relstream.core.settings import CommonSettings
from relstream.core.topics import SEARCH_LOG
from relstream.tools.loadgen.ab_sim import simulated_feedback
from serving.metrics_writer import served_positions

log = logging.getLogger(__name__)


class ReplayClock:
    """Event time of the replay as a function of wall time (the pacer's linear map)."""

    def __init__(self) -> None:
        self._event0: float | None = None
        self._wall0 = 0.0
        self._speed = 1.0
        self._lock = threading.Lock()

    def start(self, event_ts: float, speed: float) -> None:
        with self._lock:
            self._event0, self._wall0, self._speed = event_ts, time.monotonic(), speed

    def now(self) -> float | None:
        """Current event time (epoch seconds), or None before the replay started."""
        with self._lock:
            if self._event0 is None:
                return None
            return self._event0 + (time.monotonic() - self._wall0) * self._speed


@dataclass
class DriverStats:
    """What the driver did so far (read by the progress line)."""

    sent: int = 0
    new_brand: int = 0
    feedback: int = 0
    failed: int = 0
    skipped: int = 0
    """Searches that showed no results: nothing to score."""
    by_arm: dict[str, int] = field(default_factory=dict)

    def add(self, arm: str, feedback: int, new_brand: bool) -> None:
        self.sent += 1
        self.new_brand += int(new_brand)
        self.feedback += feedback
        self.by_arm[arm] = self.by_arm.get(arm, 0) + 1


class TrafficDriver(threading.Thread):
    """Sends searches that already happened in event time, at most `rps` per second."""

    def __init__(
        self, settings: CommonSettings, base_url: str, searches: list[SearchEvent],
        grades: dict[tuple[str, str], Grade], new_brand_queries: set[str], clock: ReplayClock,
        *, rps: float, new_brand_share: float, seed: int = 0, users: list[str] | None = None,
    ) -> None:
        super().__init__(name="demo-traffic", daemon=True)
        self.settings = settings
        self.base_url = base_url
        self.grades = grades
        self.clock = clock
        self.rps = rps
        self.share = new_brand_share
        self.rng = random.Random(seed)
        ordered = sorted(searches, key=lambda s: s.ts)
        brand = {normalize_query(q) for q in new_brand_queries}
        self._split = {
            True: [s for s in ordered if normalize_query(s.query) in brand],
            False: [s for s in ordered if normalize_query(s.query) not in brand],
        }
        self._times = {k: [s.ts.timestamp() for s in v] for k, v in self._split.items()}
        self.users = sorted(set(users or [s.user_id for s in ordered]))
        self.stats = DriverStats()
        self.stop_event = threading.Event()
        self.error: BaseException | None = None

    def _pick(self, now: float) -> tuple[SearchEvent, bool] | None:
        available = {k: bisect.bisect_right(t, now) for k, t in self._times.items()}
        want_brand = available[True] > 0 and self.rng.random() < self.share
        pool = True if want_brand or available[False] == 0 else False
        n = available[pool]
        if n == 0:
            return None
        # Mostly recent searches: users search for what is current in the stream.
        lo = max(0, n - 300)
        search = self._split[pool][self.rng.randrange(lo, n)]
        return search.model_copy(update={"user_id": self.rng.choice(self.users)}), pool

    def serve_one(self, http: httpx.Client, producer: EventProducer, search: SearchEvent,
                  n: int) -> tuple[str, int] | None:
        """Score one search, log what was shown and what the user did; (arm, feedback).

        None when the service did not answer 200 (a search with no results is skipped
        before, by the caller).
        """
        item_ids = [r.item_id for r in search.results]
        request_id = f"demo{n}-{search.request_id}"
        resp = http.post("/v1/score", json={"query": search.query, "item_ids": item_ids,
                                            "user_id": search.user_id,
                                            "request_id": request_id})
        if resp.status_code != 200:
            log.warning("/v1/score answered %d: %s", resp.status_code, resp.text[:200])
            return None
        out = resp.json()
        positions = served_positions(out["scores"])
        shown = search.model_copy(update={
            "event_id": f"{request_id}-s", "request_id": request_id,
            "results": sorted((ShownResult(item_id=i, position=p)
                               for i, p in zip(item_ids, positions, strict=True)),
                              key=lambda r: r.position)})
        feedback = simulated_feedback(search, request_id, item_ids, out["scores"],
                                      self.grades, random.Random(n))
        key = normalize_query(search.query)
        producer.send(SEARCH_LOG, shown, key=key)
        for event in feedback:
            producer.send(SEARCH_LOG, event, key=key)
        return str(out["arm"]), len(feedback)

    def run(self) -> None:
        producer = EventProducer(self.settings, client_id="relstream-demo-traffic")
        interval = 1.0 / self.rps
        try:
            with httpx.Client(base_url=self.base_url, timeout=30.0) as http:
                n = 0
                while not self.stop_event.is_set():
                    began = time.monotonic()
                    now = self.clock.now()
                    picked = self._pick(now) if now is not None else None
                    if picked is not None and not picked[0].results:
                        self.stats.skipped += 1
                    elif picked is not None:
                        search, brand = picked
                        n += 1
                        try:
                            served = self.serve_one(http, producer, search, n)
                        except httpx.HTTPError as exc:
                            log.warning("scoring request failed: %s", exc)
                            served = None
                        if served is None:
                            self.stats.failed += 1
                        else:
                            self.stats.add(served[0], served[1], brand)
                    self.stop_event.wait(max(0.0, interval - (time.monotonic() - began)))
        except BaseException as exc:  # reported by the demo, never silently lost
            self.error = exc
            log.exception("traffic driver stopped")
        finally:
            try:
                producer.close()
            except Exception as exc:  # the broker may already be gone at shutdown
                log.warning("closing the traffic producer: %s", exc)

    def stop(self, timeout_s: float = 30.0) -> None:
        self.stop_event.set()
        self.join(timeout_s)

