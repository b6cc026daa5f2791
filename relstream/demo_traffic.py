"""The demo's traffic driver: simulated users search, get scored results, and click.

A thread follows the replay clock: at each step it picks a search of the world that has
already happened in event time (a share of them from the new brand's queries), has it
made by a user drawn from all the world's users (so both arms get many users, not the
few who happened to search for the new brand), sends it to `/v1/score` and lets the
simulator's click model react to the order served (`serving.ab_sim.drive`, the one
driver with a click model). The feedback goes back to
the `search-log` topic, where the stream processor and the server's feedback follower
pick it up, exactly like feedback of the replayed log.
"""

from __future__ import annotations

import bisect
import logging
import random
import threading
import time
from dataclasses import dataclass, field

import httpx

from relstream.settings import CommonSettings
from serving.ab_sim import TrafficStats, drive
from streams.kafka_io import EventProducer
from streams.schemas import FeedbackEvent, Grade, SearchEvent, normalize_query
from streams.topics import SEARCH_LOG

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
    by_arm: dict[str, int] = field(default_factory=dict)

    def add(self, stats: TrafficStats, new_brand: bool) -> None:
        self.sent += stats.searches
        self.new_brand += stats.searches if new_brand else 0
        self.feedback += stats.feedback
        self.failed += stats.failed
        for arm, n in stats.by_arm.items():
            self.by_arm[arm] = self.by_arm.get(arm, 0) + n


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

    def run(self) -> None:
        producer = EventProducer(self.settings, client_id="relstream-demo-traffic")

        def sink(query: str, events: list[FeedbackEvent]) -> None:
            for event in events:
                producer.send(SEARCH_LOG, event, key=normalize_query(query))

        interval = 1.0 / self.rps
        try:
            with httpx.Client(base_url=self.base_url, timeout=30.0) as http:
                n = 0
                while not self.stop_event.is_set():
                    began = time.monotonic()
                    now = self.clock.now()
                    picked = self._pick(now) if now is not None else None
                    if picked is not None:
                        search, brand = picked
                        n += 1
                        try:
                            result = drive(http, [search], self.grades, sink, seed=n,
                                           request_prefix=f"demo{n}-")
                        except httpx.HTTPError as exc:
                            log.warning("scoring request failed: %s", exc)
                            self.stats.failed += 1
                        else:
                            self.stats.add(result, brand)
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

