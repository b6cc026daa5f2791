"""The batch engine's sink process (`streams.batch.sink_process`) makes rows of the window
sums it is given and writes them to Feast, the offline part files and ClickHouse (with the
label-request rows forwarded to it), gives back what Feast refused, outlives a SIGTERM sent
to its worker's process group (the worker closes it) and does not outlive a SIGKILLed
worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from relstream.core.settings import CommonSettings

pytestmark = pytest.mark.integration

CHILD = r'''
import sys, time
from pathlib import Path
from streams.batch.sink_process import SinkProcess
from streams.processor.settings import ProcessorSettings
settings = ProcessorSettings(state_dir=Path(sys.argv[1]), redis_url="", clickhouse_url="")
sinks = SinkProcess(settings)
while not sinks.ready:
    sinks.poll()
    time.sleep(0.2)
print(sinks._proc.pid, flush=True)
while True:
    time.sleep(1)
'''


READ_CLICKHOUSE = r'''
import json, sys
from pathlib import Path
from relstream.core.clickhouse import get_client
from streams.processor.settings import ProcessorSettings
client = get_client(ProcessorSettings(state_dir=Path(sys.argv[1]), clickhouse_url=""))
print(json.dumps({
    "aggregates": client.query("SELECT view, query, item_id, searches_1h, impressions_24h "
                               "FROM stream_aggregates ORDER BY view").result_rows,
    "requests": client.query("SELECT query, item_id FROM stream_label_requests").result_rows}))
'''


def _wait(sinks: Any, what: Callable[[], bool], deadline: float) -> list[Any]:
    failed: list[Any] = []
    while not what() and time.monotonic() < deadline:
        failed += sinks.poll()
        time.sleep(0.2)
    assert what(), "the sink process did not answer in time"
    return failed


def test_sink_process_writes_every_sink_and_dies_with_its_parent(
        stack_settings: CommonSettings, tmp_path: Path) -> None:
    from feature_store.client import get_online
    from feature_store.config import FeatureStoreSettings, open_store, repo_dir
    from feature_store.definitions import PAIR_STATS, QUERY_STATS
    from feature_store.offline import read_offline
    from streams.batch.sink_process import SinkProcess
    from streams.processor.feature_rows import StatSums
    from streams.processor.settings import ProcessorSettings

    # Its own embedded ClickHouse (the child opens it), read after the child is gone.
    settings = ProcessorSettings(**{**stack_settings.model_dump(), "redis_url": "",
                                    "clickhouse_url": ""})
    now = datetime.now(UTC)
    sums = StatSums(int(now.timestamp() * 1000), [],
                    [("red shoes", [[7, 5, 1, 0, 0], [9, 8, 2, 1, 0]])], [],
                    [("red shoes", "i1", [[1, 1, 0, 0], [3, 1, 0, 0]])])
    sinks = SinkProcess(settings)
    deadline = time.monotonic() + 120
    try:
        assert _wait(sinks, lambda: sinks.ready, deadline) == []
        # A stop signal to the worker's process group reaches the child too: it must keep
        # serving until the worker closes it (the worker's last push goes through it).
        os.kill(sinks._proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert sinks._proc.is_alive(), "the sink process died of the group's SIGTERM"
        sinks.forward([(now, "req-1", "red shoes", "i1", 0.9, ["long_tail"], "ev-1",
                        True, False)])
        sinks.submit(sums)
        assert _wait(sinks, lambda: sinks.in_flight == 0, deadline) == []
        assert sinks.pushed == {QUERY_STATS: 1, PAIR_STATS: 1}
        # A row set Feast refuses comes back whole (the worker marks it dirty again), and
        # nothing of it reaches the offline files or ClickHouse.
        refused = StatSums(sums.now_ms, [{"item_id": "i9", "event_timestamp": "not a time"}],
                           [("blue shoes", [[1, 0, 0, 0, 0], [1, 0, 0, 0, 0]])], [], [])
        sinks.submit(refused)
        assert _wait(sinks, lambda: sinks.in_flight == 0, deadline) == [refused]
    finally:
        assert sinks.close() == []
    # Closing flushes what the child held: 2 offline rows, 2 aggregate + 1 request rows.
    assert (sinks.written["offline_rows"], sinks.written["metrics_written"]) == (2, 3)
    store = open_store(FeatureStoreSettings(**settings.model_dump()))
    online = get_online(store, query="red shoes")
    assert (online["query_stats__searches_1h"], online["query_stats__searches_24h"]) == (7, 9)
    offline = read_offline(repo_dir(settings) / "data", PAIR_STATS).to_pylist()
    assert [(r["query"], r["item_id"], r["impressions_1h"], r["impressions_24h"])
            for r in offline] == [("red shoes", "i1", 1, 3)]
    read = subprocess.run([sys.executable, "-c", READ_CLICKHOUSE, str(settings.state_dir)],
                          capture_output=True, text=True, check=True)
    written = json.loads(read.stdout)
    assert sorted(map(tuple, written["aggregates"])) == [
        ("pair_stats", "red shoes", "i1", 0, 3), ("query_stats", "red shoes", "", 7, 8)]
    assert written["requests"] == [["red shoes", "i1"]]

    worker = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path / "state")],
                              stdout=subprocess.PIPE, text=True)
    assert worker.stdout is not None
    child = int(worker.stdout.readline())
    worker.kill()
    worker.wait()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            return
        time.sleep(0.5)
    os.kill(child, 9)
    raise AssertionError("the sink process outlived its SIGKILLed parent")
