"""A service started before its broker waits with backoff and logs one line per try,
no traceback: the stream processor's start-up wait and serving's followers."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import pytest

from relstream.core import topics
from relstream.core.broker_wait import broker_problem, wait_for_broker
from relstream.core.settings import CommonSettings
from relstream.stack import free_port
from serving.model_pool import ModelPool
from serving.stream_followers import StreamFollowers, model_update_handler


def _tries(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if "not reachable" in r.getMessage()]


def test_wait_backs_off_with_one_line_per_try(caplog: pytest.LogCaptureFixture) -> None:
    bootstrap = {"bootstrap_servers": f"127.0.0.1:{free_port()}"}  # nothing listens there
    assert "refused" in (broker_problem(bootstrap) or "").lower()
    stop = threading.Event()
    threading.Timer(3.5, stop.set).start()
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG):
        assert not wait_for_broker(bootstrap, "test service", stop=stop)
    assert 3.4 < time.monotonic() - started < 5
    tries = _tries(caplog)
    assert [r.getMessage().split("; ")[-1] for r in tries] == [
        "try 1, next in 1 s", "try 2, next in 2 s", "try 3, next in 4 s"]
    assert all(r.exc_info is None and "test service" in r.getMessage() for r in tries)
    assert not [r for r in caplog.records if r.exc_info]


def test_serving_followers_wait_quietly_and_stop_promptly(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = CommonSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}", state_dir=tmp_path)
    followers = StreamFollowers(settings)
    with caplog.at_level(logging.INFO):
        followers.follow(topics.MODEL_UPDATES, "serving-models",
                         model_update_handler(ModelPool(tmp_path / "registry")))
        time.sleep(3.5)
        started = time.monotonic()
        followers.close()
    assert time.monotonic() - started < 2  # the wait ends when the app stops
    tries = _tries(caplog)
    assert len(tries) >= 2 and all("consumer of model-updates" in r.getMessage()
                                   for r in tries)
    assert not [r for r in caplog.records if r.exc_info]  # no traceback every 5 s
