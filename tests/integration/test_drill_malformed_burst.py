"""Failure drill: a burst of malformed messages lands on the search-log topic mid-stream.

The replayer validates what it sends, so the burst is produced raw, beside a normal
replay: broken JSON, valid JSON of the wrong shape, an unknown event type, binary junk,
a missing key, a 512 KiB value. The stream processor must dead-letter every one of them
with a reason and its location, and still end with Feast counts exactly equal to the
counts computed from the file.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import pytest

from relstream.core.schemas import DeadLetter, decode_event
from relstream.core.settings import CommonSettings
from relstream.core.topics import DEAD_LETTER, SEARCH_LOG, topic_name
from tests.integration.kafka_read import read_topic
from tests.integration.test_stream_processor import (
    EXACT_COUNT_ENV,
    counts_exact,
    expected_counts,
    simulated_stream,
    start_on_catalog,
    stats,
    stop,
    wait_for,
)

pytestmark = pytest.mark.integration

JUNK: list[tuple[bytes | None, bytes]] = [
    (b"q", b"{not json"),
    (b"q", b"[]"),
    (b"q", json.dumps({"type": "search", "event_id": "x"}).encode()),  # fields missing
    (b"q", json.dumps({"type": "teleport", "event_id": "y", "ts": "2026-03-01T00:00:00Z"})
     .encode()),
    (None, bytes(range(256)) * 4),
    (b"q", b"\xff" * (512 * 1024)),
]


def _burst(settings: CommonSettings, copies: int) -> int:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             max_request_size=2 * 1024 * 1024)
    topic = topic_name(SEARCH_LOG, settings.topic_prefix)
    for _ in range(copies):
        for key, value in JUNK:
            producer.send(topic, key=key, value=value)
    producer.flush()
    producer.close()
    return copies * len(JUNK)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faust", "batch"])
def test_malformed_burst_is_dead_lettered_and_counts_stay_exact(
        stack_settings: CommonSettings, subprocess_env: Any, tmp_path: Path,
        engine: str) -> None:
    from streams.replay import replay_files

    catalog, log = simulated_stream(tmp_path)
    expected = expected_counts(log)
    env = subprocess_env(**EXACT_COUNT_ENV, RELSTREAM_STREAMS_ENGINE=engine)
    worker_log = tmp_path / "worker.log"
    proc = start_on_catalog(stack_settings, env, worker_log, catalog)
    try:
        replayer = threading.Thread(target=replay_files, args=(stack_settings, None, log),
                                    kwargs={"speed": 16000.0})
        replayer.start()
        sent = _burst(stack_settings, copies=20)
        replayer.join()
        assert wait_for(counts_exact(stack_settings, expected), 180,
                        "exact counts in Feast", proc) is True
        wait_for(lambda: stats(stack_settings)["stats"].get("dead_lettered", 0) >= sent, 60,
                 "the burst to be dead-lettered", proc)
        letters = [e for e in (decode_event(r.value)
                               for r in read_topic(stack_settings, DEAD_LETTER))
                   if isinstance(e, DeadLetter) and e.source == "streams-processor"]
        assert len(letters) == sent == stats(stack_settings)["stats"]["dead_lettered"]
        assert all(letter.reason and letter.location for letter in letters)
        assert {letter.original_size for letter in letters} >= {512 * 1024, 1024}
        assert proc.poll() is None, "the worker died"
    finally:
        stop(proc)
        print(worker_log.read_text()[-3000:])
