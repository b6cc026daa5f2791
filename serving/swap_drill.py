"""The hot-swap drill: steady load, then load while a model is swapped back and forth.

Used by the integration test (asserts) and `relstream bench serving` (reports). It runs
the real app under uvicorn on a loopback port, drives it with `run_load`, swaps through
the admin endpoint, and measures process RSS after the first swap and after the last.
"""

from __future__ import annotations

import gc
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx
import psutil

from relstream.bench import percentile
from relstream.stack import free_port
from serving.app import create_app
from serving.item_lookup import ItemLookup
from serving.loadgen import Sample, run_load, serve_in_thread, version_was_live
from serving.settings import ServingSettings


@dataclass
class DrillResult:
    steady: list[Sample]
    swapping: list[Sample]
    history: list[tuple[str, float, float]]
    swaps_done: int
    swap_failures: int
    max_live_sessions: int
    rss_after_first_swap: int
    rss_after_swaps: int
    swap_seconds: list[float] = field(default_factory=list)

    def failed(self, phase: str) -> int:
        return sum(s.status != 200 for s in getattr(self, phase))

    def not_live(self) -> list[Sample]:
        return [s for s in self.swapping if s.status == 200
                and not version_was_live(s, self.history)]

    @property
    def rss_growth(self) -> float:
        return self.rss_after_swaps / self.rss_after_first_swap - 1

    def summary(self, phase: str) -> dict[str, Any]:
        samples: list[Sample] = getattr(self, phase)
        ok = [s.latency_ms for s in samples if s.status == 200]
        span = (max(s.received for s in samples) - min(s.sent for s in samples)
                if samples else float("nan"))
        return {"phase": phase, "requests": len(samples), "failed": self.failed(phase),
                "p50_ms": percentile(ok, 50), "p99_ms": percentile(ok, 99),
                "throughput_rps": len(ok) / span if span else float("nan")}


def _rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def run_swap_drill(
    settings: ServingSettings, items: ItemLookup, make_body: Any, *, model: str,
    versions: tuple[str, str], clients: int = 8, steady_s: float = 10.0,
    swap_s: float = 30.0, swaps: int = 20, seed: int = 0,
) -> DrillResult:
    """Serve `model` (following latest), then swap `versions` back and forth under load."""
    # No registry polling: it would pull the holder back to `latest` between swaps.
    app = create_app(settings.model_copy(update={"poll_interval_s": 0}), items=items)
    auth = {"Authorization": f"Bearer {settings.admin_token}"}
    with serve_in_thread(app, free_port()) as url:
        state = app.state.serving
        holder = next(h for h in state.pool.holders() if h.name == model)
        with httpx.Client(base_url=url, headers=auth, timeout=120) as admin:
            admin.post(f"/admin/models/{model}/load", params={"version": versions[0]})
            steady = run_load(url, make_body, clients=clients, duration_s=steady_s, seed=seed)
            swap_log: dict[str, Any] = {"rss_first": 0, "seconds": [], "max_live": 0}
            swaps_before = holder.stats.swaps

            def swapper() -> None:
                gap = swap_s / (swaps + 1)
                for k in range(swaps):
                    time.sleep(gap)
                    start = time.perf_counter()
                    admin.post(f"/admin/models/{model}/load",
                               params={"version": versions[(k + 1) % 2]})
                    swap_log["seconds"].append(time.perf_counter() - start)
                    swap_log["max_live"] = max(swap_log["max_live"], holder.live_sessions)
                    if k == 0:
                        swap_log["rss_first"] = _rss()

            swapping_thread = threading.Thread(target=swapper, daemon=True)
            swapping_thread.start()
            swapping = run_load(url, make_body, clients=clients, duration_s=swap_s,
                                seed=seed + 1)
            swapping_thread.join(timeout=120)
            time.sleep(0.2)  # let the last old session drain before measuring
            rss_end = _rss()
        return DrillResult(
            steady=steady, swapping=swapping, history=list(holder.stats.history),
            swaps_done=holder.stats.swaps - swaps_before, swap_failures=holder.stats.failures,
            max_live_sessions=swap_log["max_live"], rss_after_first_swap=swap_log["rss_first"],
            rss_after_swaps=rss_end, swap_seconds=swap_log["seconds"],
        )


def body_maker(queries: list[str], item_ids: list[str], items_per_request: int = 20) -> Any:
    """A `make_body` drawing a query and `items_per_request` item ids at random."""

    def make(rng: random.Random) -> dict[str, object]:
        k = min(items_per_request, len(item_ids))
        return {"query": rng.choice(queries), "item_ids": rng.sample(item_ids, k),
                "user_id": f"u{rng.randrange(10_000)}"}

    return make
