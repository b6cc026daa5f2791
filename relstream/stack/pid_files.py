"""Pid files of the processes the stack started: `<state_dir>/pids/<name>.pid` and, beside
it, the process's identity (`<name>.identity.json`: create_time, exe, cmdline), so `down`
stops exactly what `up` started, even from another shell, and never signals a stranger
that got the pid after ours died."""

from __future__ import annotations

import json
from pathlib import Path

import psutil

from relstream.core.processes import is_alive, stop_group


def _identity(proc: psutil.Process) -> dict[str, object] | None:
    """What tells this process apart from a later one with the same pid: its start time,
    executable and command line (None if it is gone or not ours to inspect)."""
    try:
        with proc.oneshot():
            return {"pid": proc.pid, "create_time": proc.create_time(), "exe": proc.exe(),
                    "cmdline": proc.cmdline()}
    except (psutil.NoSuchProcess, psutil.AccessDenied):  # ZombieProcess is a NoSuchProcess
        return None


def _process_identity(pid: int) -> dict[str, object] | None:
    try:
        return _identity(psutil.Process(pid))
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def _same_process(name: str, recorded: dict[str, object], proc: psutil.Process) -> bool:
    """Is `proc` still the process the pid file was written for?

    The start time must match (a reused pid has a later one) and so must the executable
    or the command line (a server may retitle itself, which rewrites its command line).
    Without a recorded identity (a pid file of an older relstream) the process must at
    least name the service (`kafka.Kafka`, `redis-server`, `vllm`) in its command line.
    """
    now = _identity(proc)
    if now is None:
        return False
    cmdline, started = now["cmdline"], now["create_time"]
    if "create_time" not in recorded:
        return isinstance(cmdline, list) and name.lower() in " ".join(cmdline).lower()
    then = recorded["create_time"]
    if not (isinstance(then, int | float) and isinstance(started, float)
            and abs(started - then) < 0.05):
        return False
    return now["exe"] == recorded.get("exe") or cmdline == recorded.get("cmdline")


class PidFiles:
    """The pid files under `directory`, one per service name."""

    def __init__(self, directory: Path) -> None:
        self.dir = directory

    def write(self, name: str, pid: int) -> None:
        """Record the pid and, beside it, the process's identity."""
        self.dir.mkdir(parents=True, exist_ok=True)
        identity = _process_identity(pid) or {"pid": pid}
        (self.dir / f"{name}.identity.json").write_text(json.dumps(identity))
        (self.dir / f"{name}.pid").write_text(str(pid))

    def clear(self, name: str) -> None:
        (self.dir / f"{name}.pid").unlink(missing_ok=True)
        (self.dir / f"{name}.identity.json").unlink(missing_ok=True)

    def running_pid(self, name: str) -> int | None:
        proc = self.running_process(name)
        return None if proc is None else int(proc.pid)

    def running_process(self, name: str) -> psutil.Process | None:
        """The `name` process recorded here, if that very process is alive; a stale pid
        file (dead, or the pid now belongs to another process) is removed."""
        path = self.dir / f"{name}.pid"
        try:
            pid = int(path.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            recorded = json.loads((self.dir / f"{name}.identity.json").read_text())
        except (OSError, ValueError):
            recorded = {}  # written by an older relstream: the pid alone
        if not isinstance(recorded, dict) or recorded.get("pid", pid) != pid:
            recorded = {}
        try:
            proc = psutil.Process(pid)
        except psutil.NoSuchProcess:
            proc = None
        except psutil.AccessDenied:
            proc = None  # not ours to inspect, so not ours to signal
        if proc is not None and is_alive(proc) and _same_process(name, recorded, proc):
            return proc
        self.clear(name)
        return None

    def stop(self, name: str, timeout_s: float = 30.0) -> bool:
        """SIGTERM the process group, wait for all of it, then SIGKILL what is left. True if
        something was stopped.

        Only a process whose identity matches its pid file is signalled
        (`running_process`); our own child is reaped by the wait (tests).
        """
        proc = self.running_process(name)
        if proc is None:
            return False
        stop_group(proc.pid, timeout_s, kill_wait_s=5.0)
        self.clear(name)
        return True
