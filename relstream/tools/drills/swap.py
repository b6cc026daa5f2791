"""The hot-swap drill: steady load, then load while a model is swapped back and forth.

Used by the integration test (asserts) and `relstream bench serving` (reports). It runs
the real app under uvicorn on a loopback port, drives it with `run_load`, swaps through
the admin endpoint, and measures process RSS after the first swap and after the last.
"""

from __future__ import annotations

import gc
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from relstream.core.reporting import percentile
from relstream.stack import free_port
from relstream.tools.loadgen.http_load import Sample, run_load, serve_in_thread, version_was_live
from serving.app import create_app
from serving.errors import ServingError
from serving.item_lookup import ItemLookup
from serving.service import served_info
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
    warmup: list[Sample] = field(default_factory=list)
    """Requests of the unmeasured warm-up before the steady phase."""
    served: dict[str, Any] = field(default_factory=dict)
    """The holder's precision and score-cache counters after the drill."""
    spans: dict[str, list[float]] = field(default_factory=dict)
    """Seconds of load per part of each phase (phases may alternate, see `_drill`)."""

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
        span = (sum(self.spans[phase]) if self.spans.get(phase)  # load time, not pauses
                else _span(samples) if samples else float("nan"))
        return {"phase": phase, "requests": len(samples), "failed": self.failed(phase),
                "p50_ms": percentile(ok, 50), "p99_ms": percentile(ok, 99),
                "throughput_rps": len(ok) / span if span else float("nan")}


class _InThread:
    """The app in this process: holder state read directly, RSS of this process."""

    def __init__(self, holder: Any) -> None:
        self.holder = holder

    def stats(self) -> dict[str, Any]:
        h = self.holder
        return {"swaps": h.stats.swaps, "failures": h.stats.failures,
                "live_sessions": h.live_sessions, "history": list(h.stats.history),
                **served_info(h)}

    def rss(self) -> int:
        gc.collect()
        return int(psutil.Process().memory_info().rss)


class _InProcess:
    """`relstream serve` in a child process: state from /admin/models, RSS of the child."""

    def __init__(self, admin: httpx.Client, model: str, pid: int) -> None:
        self.admin, self.model, self.process = admin, model, psutil.Process(pid)

    def stats(self) -> dict[str, Any]:
        holders = self.admin.get("/admin/models").json()["holders"]
        h = next(x for x in holders if x["name"] == self.model)
        history = [(v, start, float("inf") if until is None else until)
                   for v, start, until in h["history"]]
        return {**h, "history": history}

    def rss(self) -> int:
        return int(self.process.memory_info().rss)


def _drill(
    url: str, admin: httpx.Client, target: Any, make_body: Any, model: str,
    versions: tuple[str, str], clients: int, steady_s: float, swap_s: float, swaps: int,
    seed: int, rounds: int = 1, between: Callable[[int], None] | None = None,
) -> DrillResult:
    admin.post(f"/admin/models/{model}/load", params={"version": versions[0]})
    # Not measured: first requests pay for lazy set-up (chdb, allocator, sequence shapes).
    warmup = run_load(url, make_body, clients=clients, duration_s=2.0, seed=seed + 100)
    # With `rounds` > 1 the phases alternate — steady part, `between(round)`, swapping
    # part with its share of the swaps — so machine load drifting during a long run hits
    # the steady phase, the swaps and a bench's baseline (run in `between`) alike.
    steady: list[Sample] = []
    swapping: list[Sample] = []
    spans: dict[str, list[float]] = {"steady": [], "swapping": []}
    swap_log: dict[str, Any] = {"rss_first": 0, "seconds": [], "max_live": 0, "done": 0}
    before = target.stats()

    def swapper(count: int, duration: float) -> None:
        gap = duration / (count + 1)
        for _ in range(count):
            time.sleep(gap)
            k = swap_log["done"]
            start = time.perf_counter()
            admin.post(f"/admin/models/{model}/load", params={"version": versions[(k + 1) % 2]})
            swap_log["seconds"].append(time.perf_counter() - start)
            swap_log["max_live"] = max(swap_log["max_live"], target.stats()["live_sessions"])
            swap_log["done"] = k + 1
            if k == 0:
                swap_log["rss_first"] = target.rss()

    for r in range(rounds):
        part = run_load(url, make_body, clients=clients, duration_s=steady_s / rounds,
                        seed=seed + 1000 * r)
        steady += part
        spans["steady"].append(_span(part))
        if between is not None:
            between(r)
        count = swaps // rounds + (1 if r < swaps % rounds else 0)
        thread = threading.Thread(target=swapper, args=(count, swap_s / rounds), daemon=True)
        thread.start()
        part = run_load(url, make_body, clients=clients, duration_s=swap_s / rounds,
                        seed=seed + 1000 * r + 1)
        thread.join(timeout=120)
        swapping += part
        spans["swapping"].append(_span(part))
    time.sleep(0.2)  # let the last old session drain before measuring
    rss_end = target.rss()
    after = target.stats()
    return DrillResult(
        steady=steady, swapping=swapping, warmup=warmup, history=after["history"],
        swaps_done=after["swaps"] - before["swaps"], swap_failures=after["failures"],
        max_live_sessions=swap_log["max_live"], rss_after_first_swap=swap_log["rss_first"],
        rss_after_swaps=rss_end, swap_seconds=swap_log["seconds"],
        served={k: after.get(k) for k in ("precision", "score_cache")}, spans=spans,
    )


def _span(samples: list[Sample]) -> float:
    """Seconds from the first send to the last answer of one part of a phase."""
    if not samples:
        return 0.0
    return max(s.received for s in samples) - min(s.sent for s in samples)


def run_swap_drill(
    settings: ServingSettings, items: ItemLookup, make_body: Any, *, model: str,
    versions: tuple[str, str], clients: int = 8, steady_s: float = 10.0,
    swap_s: float = 30.0, swaps: int = 20, seed: int = 0, rounds: int = 1,
    between: Callable[[int], None] | None = None,
) -> DrillResult:
    """Serve `model` (following latest) in this process, then swap `versions` under load."""
    # No registry polling: it would pull the holder back to `latest` between swaps.
    app = create_app(settings.model_copy(update={"poll_interval_s": 0}), items=items)
    auth = {"Authorization": f"Bearer {settings.admin_token}"}
    with serve_in_thread(app, free_port()) as url:
        holder = next(h for h in app.state.serving.pool.holders() if h.name == model)
        with httpx.Client(base_url=url, headers=auth, timeout=120) as admin:
            return _drill(url, admin, _InThread(holder), make_body, model, versions, clients,
                          steady_s, swap_s, swaps, seed, rounds, between)


def run_swap_drill_subprocess(
    settings: ServingSettings, catalog: Path, make_body: Any, *, model: str,
    versions: tuple[str, str], clients: int = 8, steady_s: float = 10.0,
    swap_s: float = 30.0, swaps: int = 20, seed: int = 0, rounds: int = 1,
    between: Callable[[int], None] | None = None,
) -> DrillResult:
    """The same drill against `relstream serve` in a child process (its own GIL)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELSTREAM_")}
    env.update({
        "RELSTREAM_STATE_DIR": str(settings.state_dir),
        "RELSTREAM_CLICKHOUSE_URL": "",  # the child's own chdb under its state dir
        "RELSTREAM_ADMIN_TOKEN": settings.admin_token,
        "RELSTREAM_POLL_INTERVAL_S": "0",
        "RELSTREAM_MAX_ITEMS": str(settings.max_items),
        "RELSTREAM_ONNX_THREADS": str(settings.onnx_threads),
    })
    argv = [sys.executable, "-m", "relstream.cli", "serve", "--port", str(port),
            "--registry", str(settings.registry_dir()), "--model", model,
            "--catalog", str(catalog)]
    log_path = settings.state_dir / "serve.log"
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log_file:
        child = subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {settings.admin_token}"}
        try:
            with httpx.Client(base_url=url, headers=auth, timeout=120) as admin:
                _wait_ready(admin, child, log_path)
                return _drill(url, admin, _InProcess(admin, model, child.pid), make_body,
                              model, versions, clients, steady_s, swap_s, swaps, seed, rounds,
                              between)
        finally:
            child.terminate()
            try:
                child.wait(timeout=30)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _wait_ready(admin: httpx.Client, child: subprocess.Popen[bytes], log_path: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if child.poll() is not None:
            raise ServingError(f"relstream serve exited with {child.returncode}; see {log_path}")
        try:
            if admin.get("/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.3)
    raise ServingError(f"relstream serve was not ready within 120 s; see {log_path}")


def body_maker(queries: list[str], item_ids: list[str], items_per_request: int = 20) -> Any:
    """A `make_body` drawing a query and `items_per_request` item ids at random."""

    def make(rng: random.Random) -> dict[str, object]:
        k = min(items_per_request, len(item_ids))
        return {"query": rng.choice(queries), "item_ids": rng.sample(item_ids, k),
                "user_id": f"u{rng.randrange(10_000)}"}

    return make
