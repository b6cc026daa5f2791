"""Processes and process groups through psutil: alive or not, who is in a group, waiting
for them to end, signalling a group.

A zombie counts as ended everywhere here: it has exited and only waits for its parent to
reap it, which is not ours to wait for (`relstream stack down` from another shell must
not wait on a corpse). Our own children are reaped by the wait (psutil does it). A
`psutil.Process` is the process it was made for: once its pid is reused by another one,
it reads as ended (psutil compares the start time).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterable
from typing import Any

import psutil

RESTART_EXIT_CODE = 75
"""The exit code (EX_TEMPFAIL) of a long-running component asking to be started again: it
found itself stuck where a fresh process is not (streams.processor.recovery). Deployments
restart it (docker-compose's `restart: unless-stopped`, the demo's supervisor)."""

_WAIT_ROUND_S = 0.1
"""How long one `psutil.wait_procs` call waits before zombies are set aside (see
`wait_gone`)."""


def is_alive(proc: psutil.Process) -> bool:
    """True while `proc` runs; False once it ended, is a zombie or its pid was reused."""
    try:
        return bool(proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True  # exists, but is not ours to inspect further


def pid_alive(pid: int) -> bool:
    """True while a process with this pid runs (a zombie does not)."""
    try:
        return is_alive(psutil.Process(pid))
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:
        return True


def group(pgid: int) -> list[psutil.Process]:
    """The live processes of the process group `pgid` (its leader too while it lives),
    wherever their parents are: a helper orphaned by its parent stays in the group."""
    members = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == pgid and is_alive(proc):
                members.append(proc)
        except (ProcessLookupError, psutil.NoSuchProcess):
            continue
    return members


def group_alive(pgid: int) -> bool:
    """True while any process of the group `pgid` still runs (zombies excluded)."""
    return bool(group(pgid))


def signal_group(pgid: int, sig: signal.Signals) -> bool:
    """Send `sig` to every process of the group `pgid`; False if the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(procs: Iterable[psutil.Process], timeout_s: float) -> list[psutil.Process]:
    """Wait up to `timeout_s` for every process of `procs` to end; the ones still alive.

    `psutil.wait_procs` does the waiting (and reaps our own children). It waits in short
    rounds because, for a process that is not our child, it waits until the pid is gone,
    and a zombie's pid is not gone until its parent reaps it: between rounds, zombies and
    reused pids are set aside (`is_alive`).
    """
    alive = list(procs)
    deadline = time.monotonic() + timeout_s
    while True:
        left = max(0.0, min(deadline - time.monotonic(), _WAIT_ROUND_S))
        _, still = psutil.wait_procs(alive, timeout=left)
        alive = [p for p in still if is_alive(p)]
        if not alive or time.monotonic() >= deadline:
            return alive


def stop_group(pgid: int, grace_s: float, *, kill_wait_s: float = 10.0,
               leader: subprocess.Popen[Any] | None = None, term: bool = True) -> str:
    """Stop the process group `pgid`: SIGTERM, up to `grace_s` for all of it to end, then
    SIGKILL what is left and up to `kill_wait_s` more (`term=False`: SIGKILL at once, as
    the failure drills want). Returns how it ended: "exited" (nothing was running),
    "SIGTERM" or "SIGKILL".

    `leader`, when the group's leader is our own child, is waited for through its `Popen`,
    which reaps it and keeps its exit code; the other members are waited for by psutil.
    """
    members = [p for p in group(pgid) if leader is None or p.pid != leader.pid]
    if not members and (leader is None or leader.poll() is not None):
        return "exited"
    rounds = [(signal.SIGKILL, kill_wait_s)]
    if term:
        rounds.insert(0, (signal.SIGTERM, grace_s))
    for sig, wait_s in rounds:
        signal_group(pgid, sig)
        deadline = time.monotonic() + wait_s
        if leader is not None:
            try:
                leader.wait(timeout=wait_s)
            except subprocess.TimeoutExpired:
                members = [p for p in members if is_alive(p)]
                continue
        members = wait_gone(members, max(0.0, deadline - time.monotonic()))
        if not members:
            return sig.name
    return "SIGKILL"

