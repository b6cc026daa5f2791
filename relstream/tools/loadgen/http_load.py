"""A bounded HTTP load generator and an in-process uvicorn runner, for drills and benches.

`run_load` drives `/v1/score` from N client threads until a deadline and records each
request's send/receive time, status and model version, so callers can check that every
response named a version that was live during its request. Loopback only by design.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from serving.errors import ServingError


@dataclass(frozen=True)
class Sample:
    sent: float  # time.time() at send
    received: float
    status: int
    version: str | None
    arm: str | None

    @property
    def latency_ms(self) -> float:
        return (self.received - self.sent) * 1000


def run_load(
    base_url: str, make_body: Callable[[random.Random], dict[str, object]], *,
    clients: int, duration_s: float, seed: int = 0, timeout_s: float = 30.0,
) -> list[Sample]:
    """`clients` threads posting bodies from `make_body` for `duration_s`; all samples."""
    if not base_url.startswith(("http://127.0.0.1", "http://localhost")):
        raise ServingError(f"load generator only targets loopback, not {base_url}")
    deadline = time.monotonic() + duration_s
    results: list[list[Sample]] = [[] for _ in range(clients)]

    def worker(k: int) -> None:
        rng = random.Random(seed * 1000 + k)
        with httpx.Client(base_url=base_url, timeout=timeout_s) as http:
            while time.monotonic() < deadline:
                body = make_body(rng)
                sent = time.time()
                try:
                    resp = http.post("/v1/score", json=body)
                    out = resp.json() if resp.status_code == 200 else {}
                    results[k].append(Sample(sent, time.time(), resp.status_code,
                                             out.get("model", {}).get("version"),
                                             out.get("arm")))
                except httpx.HTTPError:
                    results[k].append(Sample(sent, time.time(), 0, None, None))

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration_s + timeout_s + 10)
    return [s for per in results for s in per]


def version_was_live(
    sample: Sample, history: Sequence[tuple[str, float, float]], slack_s: float = 0.0
) -> bool:
    """True if `sample.version` was being served at some moment of the request."""
    return any(
        v == sample.version and start <= sample.received + slack_s
        and until >= sample.sent - slack_s
        for v, start, until in history
    )


@contextmanager
def serve_in_thread(app: object, port: int, host: str = "127.0.0.1") -> Iterator[str]:
    """Run `app` with uvicorn in a daemon thread; yields the base URL; stops on exit."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",  # type: ignore[arg-type]
                                           access_log=False))
    thread = threading.Thread(target=server.run, name="uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise ServingError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.05)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
