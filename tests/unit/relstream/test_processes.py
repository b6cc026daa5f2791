"""`relstream.core.processes`: liveness without zombies, whole process groups, waiting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import psutil
import pytest

from relstream.core.processes import (
    group,
    group_alive,
    is_alive,
    pid_alive,
    signal_group,
    stop_group,
    wait_gone,
)

# A group leader that starts a helper in its own group, then sleeps; it ignores SIGTERM
# when asked to (`stubborn`), as a server stuck in shutdown would.
_LEADER = """
import signal, subprocess, sys, time
subprocess.Popen(["sleep", "120"])
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(120)
"""


@pytest.fixture
def leader(request: pytest.FixtureRequest) -> Iterator[subprocess.Popen[str]]:
    mode = getattr(request, "param", "plain")
    proc = subprocess.Popen([sys.executable, "-c", _LEADER, mode], stdout=subprocess.PIPE,
                            text=True, start_new_session=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    try:
        yield proc
    finally:
        signal_group(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_zombie_is_not_alive() -> None:
    proc = subprocess.Popen(["true"])
    deadline = time.monotonic() + 10
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:  # exited, unreaped
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not pid_alive(proc.pid) and not is_alive(psutil.Process(proc.pid))
    proc.wait()
    assert not pid_alive(proc.pid)
    assert pid_alive(os.getpid())


def test_group_holds_the_leader_and_its_helper(leader: subprocess.Popen[str]) -> None:
    members = group(leader.pid)
    assert leader.pid in [p.pid for p in members] and len(members) == 2
    assert group_alive(leader.pid)


def test_wait_gone_reaps_our_child_and_waits_for_the_whole_group(
    leader: subprocess.Popen[str],
) -> None:
    members = group(leader.pid)
    assert signal_group(leader.pid, signal.SIGTERM)
    assert wait_gone(members, 10) == []  # the helper too, whoever reaps it
    assert not group_alive(leader.pid)
    with pytest.raises(ChildProcessError):  # the wait reaped it
        os.waitpid(leader.pid, os.WNOHANG)


@pytest.mark.parametrize("leader", ["stubborn"], indirect=True)
def test_wait_gone_returns_what_is_still_alive(leader: subprocess.Popen[str]) -> None:
    members = group(leader.pid)
    signal_group(leader.pid, signal.SIGTERM)  # the helper ends, the leader ignores it
    began = time.monotonic()
    alive = wait_gone(members, 0.5)
    assert 0.4 < time.monotonic() - began < 3
    assert [p.pid for p in alive] == [leader.pid]


def test_stop_group_terms_then_keeps_the_leaders_exit_code(
    leader: subprocess.Popen[str],
) -> None:
    assert stop_group(leader.pid, 10, leader=leader) == "SIGTERM"
    assert leader.returncode == -signal.SIGTERM and not group_alive(leader.pid)
    assert stop_group(leader.pid, 10, leader=leader) == "exited"


@pytest.mark.parametrize("leader", ["stubborn"], indirect=True)
def test_stop_group_kills_what_ignores_sigterm_after_the_grace(
    leader: subprocess.Popen[str],
) -> None:
    assert stop_group(leader.pid, 0.5, kill_wait_s=10) == "SIGKILL"  # not our Popen: psutil
    assert not group_alive(leader.pid)

