"""Failure drills of the scoring server as it runs in production: `relstream serve --follow`
as a subprocess on the session broker, clients sending valid requests the whole time.

- Poisoned artifact: a version whose ONNX file no longer matches its manifest's sha256 is
  published and announced on `model-updates`. The server must refuse it, keep serving the
  version it has, never answer a valid request with an error, and take the next good
  version when it comes.
- ClickHouse unavailable for a while: another process holds the server's embedded
  ClickHouse path (chdb locks it, as a server would hold its data dir), so every connect
  fails for the first ~15 s. Requests must all succeed, and once ClickHouse is back every
  scored request and every feedback event must be in it: none lost, none doubled.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from relstream.core import registry
from relstream.core.kafka_io import EventProducer
from relstream.core.manifest import manifest_sha256
from relstream.core.schemas import FeedbackEvent, ModelUpdate, utcnow
from relstream.core.settings import CommonSettings
from relstream.core.topics import MODEL_UPDATES, SEARCH_LOG
from relstream.tools.bench.serving import synthetic_catalog
from relstream.tools.toy_models import publish_toy_model, vocabulary
from tests.conftest import settings_env
from tests.integration.serve_process import (
    ready_version,
    start_server,
    stop_server,
    wait_for,
)

pytestmark = pytest.mark.integration

MODEL = "cross_encoder"


class Clients(threading.Thread):
    """Sends valid /v1/score requests until stopped; keeps (status, version) of each."""

    def __init__(self, base: str, queries: list[str], item_ids: list[str]) -> None:
        super().__init__(daemon=True)
        self.base, self.queries, self.item_ids = base, queries, item_ids
        self.results: list[tuple[int, str | None, str]] = []
        self.stop_event = threading.Event()

    def run(self) -> None:
        rng = random.Random(0)
        with httpx.Client(base_url=self.base, timeout=30.0) as http:
            while not self.stop_event.is_set():
                request_id = uuid.uuid4().hex
                body = {"query": rng.choice(self.queries), "item_ids": rng.sample(self.item_ids, 8),
                        "user_id": f"u{rng.randrange(1000)}", "request_id": request_id}
                try:
                    resp = http.post("/v1/score", json=body)
                    version = resp.json()["model"]["version"] if resp.status_code == 200 else None
                    self.results.append((resp.status_code, version, request_id))
                except httpx.HTTPError as exc:
                    self.results.append((0, None, f"{request_id}: {exc}"))
                self.stop_event.wait(0.05)

    def stop(self) -> None:
        self.stop_event.set()
        self.join(30)

    def failed(self) -> list[tuple[int, str | None, str]]:
        return [r for r in self.results if r[0] != 200]


def _start_server(settings: CommonSettings, tmp: Path, root: Path, catalog: Path
                  ) -> tuple[subprocess.Popen[bytes], str]:
    proc, base = start_server(
        settings, tmp, ["--registry", str(root), "--model", MODEL, "--catalog", str(catalog),
                        "--follow"], model=MODEL, RELSTREAM_POLL_INTERVAL_S="1.0",
        RELSTREAM_METRICS_FLUSH_S="0.5", RELSTREAM_ONNX_THREADS="1")
    wait_for(lambda: _ready_version(base) is not None, 120, "a version served", proc, tmp)
    return proc, base


def _ready_version(base: str) -> str | None:
    return ready_version(base, MODEL)


def _toy_world(tmp: Path) -> tuple[Path, list[str], list[str], list[str]]:
    """A catalog file, the item ids, queries, and the toy models' vocabulary."""
    items, queries = synthetic_catalog(300, seed=3)
    catalog = tmp / "catalog.jsonl"
    catalog.write_text("".join(i.model_dump_json() + "\n" for i in items))
    vocab = vocabulary(queries + [i.title for i in items])
    return catalog, [i.item_id for i in items], queries, vocab


def _announce(settings: CommonSettings, root: Path, version: str) -> None:
    producer = EventProducer(settings, client_id="drill")
    producer.send(MODEL_UPDATES, ModelUpdate(
        ts=utcnow(), event_id=uuid.uuid4().hex, name=MODEL, version=version,
        artifact_uri=str(registry.version_dir(root, MODEL, version)),
        sha256=manifest_sha256(registry.version_dir(root, MODEL, version))), key=MODEL)
    producer.close()


def test_poisoned_artifact_is_refused_and_serving_goes_on(
        stack_settings: CommonSettings, tmp_path: Path) -> None:
    catalog, item_ids, queries, vocab = _toy_world(tmp_path)
    root = tmp_path / "registry"
    v1 = publish_toy_model(root, MODEL, seed=1, vocab=vocab)
    proc, base = _start_server(stack_settings, tmp_path, root, catalog)
    clients = Clients(base, queries, item_ids)
    clients.start()
    try:
        # v2: published, then its graph is overwritten (bit rot, a bad copy, tampering).
        v2 = publish_toy_model(root, MODEL, seed=2, vocab=vocab)
        graph = registry.version_dir(root, MODEL, v2) / "model.onnx"
        os.chmod(graph, 0o644)
        data = bytearray(graph.read_bytes())
        data[len(data) // 2 : len(data) // 2 + 64] = os.urandom(64)
        graph.write_bytes(bytes(data))
        _announce(stack_settings, root, v2)
        time.sleep(8.0)  # several registry polls and the model-update event
        assert _ready_version(base) == v1
        seen_before_v3 = len(clients.results)

        v3 = publish_toy_model(root, MODEL, seed=3, vocab=vocab)
        _announce(stack_settings, root, v3)
        wait_for(lambda: _ready_version(base) == v3, 60, f"v{v3} served", proc, tmp_path)
        time.sleep(2.0)
    finally:
        clients.stop()
        stop_server(proc, tmp_path)
    log = (tmp_path / "server.log").read_text()
    assert clients.failed() == [], clients.failed()[:5]
    versions = Counter(v for _, v, _ in clients.results)
    assert v2 not in versions, versions
    assert versions[v1] > 0 and versions[v3] > 0, versions
    assert all(v == v1 for _, v, _ in clients.results[:seen_before_v3])
    refusals = log.count(f"model swap to {MODEL} v{v2} failed")
    assert "sha256 mismatch" in log and 1 <= refusals <= 3, log[-3000:]  # said why, not per poll


def _hold_chdb(path: Path, seconds: float) -> subprocess.Popen[bytes]:
    """A process that opens the embedded ClickHouse at `path` and keeps it for `seconds`."""
    script = ("import sys, time\nfrom relstream.core.clickhouse import get_client\n"
              "from relstream.core.settings import CommonSettings\n"
              "c = get_client(CommonSettings(clickhouse_url=sys.argv[1]))\n"
              "c.command('SELECT 1')\nprint('holding', flush=True)\n"
              "time.sleep(float(sys.argv[2]))\n")
    proc = subprocess.Popen([sys.executable, "-c", script, f"chdb://{path}", str(seconds)],
                            stdout=subprocess.PIPE, env=dict(os.environ))
    assert proc.stdout is not None and proc.stdout.readline().strip() == b"holding"
    return proc


def _count_rows(settings: CommonSettings) -> dict[str, Any]:
    script = ("import json\nfrom relstream.core.clickhouse import get_client\n"
              "from relstream.core.settings import CommonSettings\n"
              "c = get_client(CommonSettings())\n"
              "print(json.dumps({'requests': c.query('SELECT request_id FROM serving_requests')"
              ".result_rows, 'feedback': c.query('SELECT event_id FROM serving_feedback FINAL')"
              ".result_rows}))\n")
    out = subprocess.run([sys.executable, "-c", script], env=settings_env(settings),
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_clickhouse_outage_loses_no_request_or_feedback(
        stack_settings: CommonSettings, tmp_path: Path) -> None:
    catalog, item_ids, queries, vocab = _toy_world(tmp_path)
    root = tmp_path / "registry"
    publish_toy_model(root, MODEL, seed=1, vocab=vocab)
    # The server's embedded ClickHouse: its state dir's `clickhouse` (CommonSettings.chdb_dsn).
    holder = _hold_chdb(stack_settings.state_dir / "clickhouse", 15.0)
    proc, base = _start_server(stack_settings, tmp_path, root, catalog)
    clients = Clients(base, queries, item_ids)
    clients.start()
    sent_feedback: list[str] = []
    producer = EventProducer(stack_settings, client_id="drill")
    try:
        time.sleep(5.0)
        assert holder.poll() is None, "the outage ended before the drill"
        for status, _, request_id in list(clients.results)[:40]:
            if status == 200:
                event = FeedbackEvent(ts=utcnow(), event_id=uuid.uuid4().hex,
                                      request_id=request_id, user_id="u1", item_id=item_ids[0],
                                      action="click")
                producer.send(SEARCH_LOG, event, key="drill")
                sent_feedback.append(event.event_id)
        producer.flush()
        assert holder.wait(30) == 0  # ClickHouse is back
        time.sleep(8.0)  # requests after the outage, and the writer's backoff
    finally:
        producer.close()
        clients.stop()
        stop_server(proc, tmp_path)
        if holder.poll() is None:
            holder.kill()
    log = (tmp_path / "server.log").read_text()
    assert clients.failed() == [], clients.failed()[:5]
    assert "ClickHouse" in log  # the outage was noticed and logged
    rows = _count_rows(stack_settings)
    served = [r for s, _, r in clients.results if s == 200]
    got = [r[0] for r in rows["requests"]]
    assert len(served) > 50 and sorted(got) == sorted(served)
    assert sorted(r[0] for r in rows["feedback"]) == sorted(sent_feedback)
