"""The labelling worker against a real broker, chdb and a real vLLM server (tiny model).

A small simulated search log is turned into label requests (every shown pair, repeated
pairs included); the worker must produce exactly one teacher label per distinct pair,
with parsed steps and a grade distribution summing to 1 (the tiny format model, served by
the session's vLLM server, writes a parseable CoT for every prompt of this world; a
request without an item goes to the dead-letter topic). Then the SIGKILL drill: a worker
subprocess is killed mid-stream, a second one finishes, and every pair is labelled, none
missing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from relstream.core.schemas import LabelRequest, TeacherLabel, decode_event, pair_key, utcnow
from relstream.core.settings import CommonSettings
from relstream.core.topics import DEAD_LETTER, LABEL_REQUESTS, TEACHER_LABELS
from tests.integration.kafka_read import read_topic

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    return simulate(SimConfig(out=tmp_path_factory.mktemp("world"), seed=5, items=200,
                              searches=40, days=0.05))


def _requests(world: Path, searches: int, per_search: int) -> list[LabelRequest]:
    """Shown pairs of the first searches as label requests, in log order (repeats kept)."""
    from relstream.core.shop_files import load_catalog

    catalog = load_catalog(world)
    out = []
    with (world / "search_log.jsonl").open() as fh:
        for line in fh:
            event = json.loads(line)
            if event["type"] != "search":
                continue
            for shown in event["results"][:per_search]:
                out.append(LabelRequest(ts=utcnow(), event_id=uuid.uuid4().hex,
                                        query=event["query"], item_id=shown["item_id"],
                                        item=catalog[shown["item_id"]]))
            searches -= 1
            if searches == 0:
                break
    return out


def _produce(settings: CommonSettings, requests: list[LabelRequest]) -> None:
    from relstream.core.kafka_io import EventProducer

    producer = EventProducer(settings, client_id="test")
    for request in requests:
        producer.send(LABEL_REQUESTS, request, key=request.pair_key)
    producer.close()


def _read(settings: CommonSettings, topic: str, idle_s: float = 3.0) -> list:  # type: ignore[type-arg]
    from relstream.core.kafka_io import make_consumer

    consumer = make_consumer(settings, [topic], group_id=f"reader-{uuid.uuid4().hex[:8]}")
    events, last = [], time.monotonic()
    try:
        while time.monotonic() - last < idle_s:
            for batch in consumer.poll(timeout_ms=500).values():
                events.extend(decode_event(r.value) for r in batch)
                last = time.monotonic()
    finally:
        consumer.close()
    return events


def _unparsable(settings: CommonSettings) -> set[str]:
    """Pair keys of the requests dead-lettered because the teacher output did not parse."""
    keys = set()
    for letter in _read(settings, DEAD_LETTER, idle_s=1.0):
        if "unparsable" in letter.reason:
            original = json.loads(letter.original)
            assert original["raw_output"].endswith("Grade:")
            request = original["request"]
            keys.add(pair_key(request["query"], request["item_id"]))
    return keys


def _teacher_settings(settings: CommonSettings, vllm_teacher: Any, **extra: object):  # type: ignore[no-untyped-def]
    from teacher_worker.settings import TeacherSettings

    return TeacherSettings(**{**vllm_teacher.settings.model_dump(), **settings.model_dump(),
                              "teacher_max_new_tokens": 24, "teacher_batch_max": 8,
                              "teacher_batch_wait_ms": 200,
                              "teacher_metrics_table": f"tm_{uuid.uuid4().hex[:8]}", **extra})


def test_one_label_per_distinct_pair(stack_settings: CommonSettings, vllm_teacher: Any,
                                     world: Path) -> None:
    from relstream.core.clickhouse import get_client
    from teacher_worker.backends import load_backend
    from teacher_worker.metrics import MetricsWriter
    from teacher_worker.worker import run_worker

    requests = _requests(world, searches=6, per_search=4)
    requests += requests[:5]  # the same pairs requested again later in the stream
    orphan = LabelRequest(ts=utcnow(), event_id="orphan", query="q", item_id="nope")
    _produce(stack_settings, [*requests, orphan])
    distinct = {r.pair_key for r in requests}

    settings = _teacher_settings(stack_settings, vllm_teacher)
    backend = load_backend(settings)
    assert settings.backend == "openai" and backend.health()["ok"]
    stats = run_worker(settings, backend, idle_exit_s=3.0)
    assert stats.handled == len(requests) + 1

    labels = [e for e in _read(stack_settings, TEACHER_LABELS) if isinstance(e, TeacherLabel)]
    labelled = [label.pair_key for label in labels]
    assert len(labelled) == len(set(labelled)), "a pair was labelled twice"
    assert _unparsable(stack_settings) == set()
    assert set(labelled) == distinct, "a requested pair has no label"
    for label in labels:
        assert sum(label.grade_probs.values()) == pytest.approx(1.0, abs=1e-6)
        assert label.raw_cot.endswith("Grade:") and label.steps.grade is None
    letters = _read(stack_settings, DEAD_LETTER, idle_s=1.0)
    assert any("orphan" in letter.original and "no item" in letter.reason for letter in letters)

    summary = MetricsWriter(get_client(stack_settings), settings.teacher_metrics_table).summary()
    assert summary["batches"] >= 1
    assert summary["parse_failure_rate"] == 0.0


def test_sigkill_mid_stream_loses_nothing(stack_settings: CommonSettings, vllm_teacher: Any,
                                          world: Path, tmp_path: Path,
                                          subprocess_env) -> None:  # type: ignore[no-untyped-def]
    # Enough pairs, in small batches, that even an idle machine is still labelling when
    # the first labels show up and the kill lands.
    requests = _requests(world, searches=40, per_search=4)
    distinct = {r.pair_key for r in requests}
    _produce(stack_settings, requests)
    env = subprocess_env(RELSTREAM_TEACHER_BACKEND="openai",
                         RELSTREAM_TEACHER_OPENAI_URL=vllm_teacher.url,
                         RELSTREAM_TEACHER_MODEL_DIR=str(vllm_teacher.settings.model_dir()),
                         RELSTREAM_TEACHER_MAX_NEW_TOKENS="24",
                         RELSTREAM_TEACHER_BATCH_MAX="2", RELSTREAM_TEACHER_BATCH_WAIT_MS="100")
    # The first worker runs until it is killed: an idle exit could end it on a loaded
    # machine before its group join and first batch. The second exits once idle for 20 s:
    # it waits out the killed member's session (6 s) and the rebalance first.
    cmd = [sys.executable, "-m", "relstream.cli", "teacher", "run"]
    first_log = tmp_path / "first-worker.log"
    with first_log.open("wb") as log:
        first = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        seen: list = []  # type: ignore[type-arg]
        while not seen and time.monotonic() < deadline and first.poll() is None:
            # A snapshot up to the end offsets (no group join, no waiting for quiet), so
            # the kill lands while the worker is still labelling.
            seen = [e for e in (decode_event(r.value) for r in
                                read_topic(stack_settings, TEACHER_LABELS))
                    if isinstance(e, TeacherLabel)]
            time.sleep(0.2)
        assert seen, (f"the first worker produced no label in time (exit code "
                      f"{first.poll()}):\n{first_log.read_text()[-3000:]}")
        assert len({e.pair_key for e in seen}) < len(distinct), "killed too late to matter"
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    second = subprocess.run([*cmd, "--idle-exit", "20"], env=env, capture_output=True,
                            text=True, timeout=300)
    assert second.returncode == 0, second.stderr[-2000:]
    labels = [e for e in _read(stack_settings, TEACHER_LABELS) if isinstance(e, TeacherLabel)]
    assert {label.pair_key for label in labels} == distinct, \
        f"a pair went missing; second worker:\n{second.stdout[-1500:]}\n{second.stderr[-3000:]}"
    assert _unparsable(stack_settings) == set()
    for label in labels:
        assert label.steps.query_analysis and sum(label.grade_probs.values()) == pytest.approx(1.0)
