"""`stack down` signals only the process its pid file was written for: a pid now used by
an unrelated process (pid reuse after a reboot or a crash) is left alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings
from relstream.stack import LocalStack


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    """An unrelated process, leader of its own process group (as our services are)."""
    proc = subprocess.Popen(["sleep", "120"], start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()


@pytest.fixture
def stack(tmp_path: Path) -> LocalStack:
    return LocalStack(CommonSettings(state_dir=tmp_path, kafka_bootstrap="127.0.0.1:1"))


def test_an_old_style_pid_file_naming_an_unrelated_process_leaves_it_alive(
    stack: LocalStack, sleeper: subprocess.Popen[bytes]
) -> None:
    stack.pids.mkdir(parents=True)
    (stack.pids / "kafka.pid").write_text(str(sleeper.pid))  # what older versions wrote
    assert stack.down() == []
    assert sleeper.poll() is None  # still sleeping
    assert not (stack.pids / "kafka.pid").exists()  # the stale file is gone


def test_a_reused_pid_is_not_signalled(stack: LocalStack,
                                       sleeper: subprocess.Popen[bytes]) -> None:
    """The file recorded another process (ours, here) that had this pid number."""
    stack.pid_files.write("kafka", os.getpid())
    identity = stack.pids / "kafka.identity.json"
    recorded = json.loads(identity.read_text())
    assert recorded["pid"] == os.getpid() and recorded["create_time"] > 0
    (stack.pids / "kafka.pid").write_text(str(sleeper.pid))
    identity.write_text(json.dumps({**recorded, "pid": sleeper.pid}))
    assert not stack.stop("kafka") and sleeper.poll() is None
    assert not identity.exists()


def test_the_recorded_process_itself_is_stopped(stack: LocalStack,
                                                sleeper: subprocess.Popen[bytes]) -> None:
    stack.pid_files.write("redis", sleeper.pid)
    assert (stack.pids / "redis.pid").read_text() == str(sleeper.pid)  # still a bare pid
    assert stack.pid_files.running_pid("redis") == sleeper.pid
    assert stack.stop("redis", timeout_s=5)
    sleeper.wait(timeout=5)  # stop() reaped it already (we are its parent)
    with pytest.raises(ProcessLookupError):
        os.kill(sleeper.pid, 0)
    assert stack.pid_files.running_pid("redis") is None
