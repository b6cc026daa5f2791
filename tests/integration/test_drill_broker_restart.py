"""Failure drill: the Kafka broker restarts while the stream processor is consuming.

A broker of its own (the session broker is shared by every other test): half of a
simulated search log is replayed, the broker is stopped and started again on the same
data directory, the second half is replayed, and Feast must hold exactly the counts
computed from the file, with nothing lost and nothing counted twice. The worker runs under
the same rule as in production: if it exits, it is restarted (the changelog-backed
tables make a restart exact); the test records whether that was needed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from relstream.core.settings import CommonSettings
from relstream.stack import LocalStack, free_port
from tests.conftest import settings_env
from tests.integration.test_stream_processor import (
    EXACT_COUNT_ENV,
    counts_exact,
    expected_counts,
    simulated_stream,
    start_worker,
    stats,
    stop,
    wait_until,
)

pytestmark = pytest.mark.integration


def _split_log(log: Path, out_dir: Path) -> tuple[Path, Path]:
    """The log in two files, each search with its feedback: the replayer keys feedback by
    its search's query, which it learns from the searches it replays itself."""
    lines = log.read_text().splitlines(keepends=True)
    requests: list[str] = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if event.get("type") == "search":
            requests.append(event["request_id"])
    early = set(requests[: len(requests) // 2])

    def is_early(line: str) -> bool:
        try:
            return json.loads(line).get("request_id") in early
        except json.JSONDecodeError:
            return False

    first, second = out_dir / "first.jsonl", out_dir / "second.jsonl"
    first.write_text("".join(line for line in lines if is_early(line)))
    second.write_text("".join(line for line in lines if not is_early(line)))
    return first, second


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["faust", "batch"])
def test_counts_exact_across_broker_restart(stack_settings: CommonSettings,
                                            tmp_path: Path, engine: str) -> None:
    from streams.replay import replay_files

    own = stack_settings.model_copy(update={
        "kafka_bootstrap": f"127.0.0.1:{free_port()}", "state_dir": tmp_path / "state"})
    broker_state = own.model_copy(update={"state_dir": tmp_path / "broker"})
    stack = LocalStack(broker_state)
    stack.start_kafka()
    catalog, log = simulated_stream(tmp_path)
    expected = expected_counts(log)
    first, second = _split_log(log, tmp_path)
    env = settings_env(own, **EXACT_COUNT_ENV, RELSTREAM_STREAMS_ENGINE=engine)
    worker_log = tmp_path / "worker.log"
    proc = start_worker(env, worker_log)
    restarts = 0

    def restart_if_dead() -> None:  # what a supervisor does
        nonlocal proc, restarts
        if proc.poll() is not None:
            restarts += 1
            proc = start_worker(env, worker_log)

    def wait(check: Any, timeout_s: float, what: str) -> Any:
        return wait_until(check, timeout_s, what, restart_if_dead)

    try:
        replay_files(own, catalog, first)
        wait(lambda: stats(own).get("stats", {}).get("search", 0) >= 20, 180,
             "the worker to count the first half")
        stack.stop("kafka")
        time.sleep(3.0)  # the worker sees the broker gone
        stack.start_kafka()
        replay_files(own, None, second)
        assert wait(counts_exact(own, expected), 180,
                    "exact counts in Feast after the restart") is True
        print(json.dumps({"worker_restarts": restarts,
                          "stats": stats(own).get("stats", {})}))
    finally:
        stop(proc)
        stack.stop("kafka")
        print(worker_log.read_text()[-3000:])
