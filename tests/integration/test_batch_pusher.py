"""The batch engine's Feast push process (`streams.batch.pusher`) writes rows it is given,
outlives a SIGTERM sent to its worker's process group (the worker closes it) and does not
outlive a SIGKILLed worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings

pytestmark = pytest.mark.integration

CHILD = r'''
import sys, time
from pathlib import Path
from streams.batch.pusher import PushProcess
from streams.processor.settings import ProcessorSettings
settings = ProcessorSettings(state_dir=Path(sys.argv[1]), redis_url="", clickhouse_url="")
pusher = PushProcess(settings)
while not pusher.ready:
    pusher.poll()
    time.sleep(0.2)
print(pusher._proc.pid, flush=True)
while True:
    time.sleep(1)
'''


def test_push_process_pushes_and_dies_with_its_parent(stack_settings: CommonSettings,
                                                       tmp_path: Path) -> None:
    from feature_store.client import get_online
    from feature_store.config import FeatureStoreSettings, open_store
    from feature_store.definitions import QUERY_STATS, stat_fields
    from streams.batch.pusher import PushProcess
    from streams.processor.settings import ProcessorSettings

    settings = ProcessorSettings(**{**stack_settings.model_dump(), "redis_url": ""})
    pusher = PushProcess(settings)
    try:
        deadline = time.monotonic() + 120
        while not pusher.ready and time.monotonic() < deadline:
            assert pusher.poll() == []
            time.sleep(0.2)
        # A stop signal to the worker's process group reaches the child too: it must keep
        # serving until the worker closes it (the worker's last push goes through it).
        os.kill(pusher._proc.pid, signal.SIGTERM)
        time.sleep(0.5)
        assert pusher._proc.is_alive(), "the push process died of the group's SIGTERM"
        row = {"query": "red shoes", "event_timestamp": datetime.now(UTC),
               **{f: (0.5 if f.startswith("ctr") else 7) for f in stat_fields(QUERY_STATS)}}
        pusher.submit({QUERY_STATS: [row]})
        while pusher.in_flight and time.monotonic() < deadline:
            assert pusher.poll() == []
            time.sleep(0.2)
        assert pusher.pushed == {QUERY_STATS: 1}
    finally:
        assert pusher.close() == []
    store = open_store(FeatureStoreSettings(**settings.model_dump()))
    assert get_online(store, query="red shoes")["query_stats__searches_1h"] == 7

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
    raise AssertionError("the push process outlived its SIGKILLed parent")
