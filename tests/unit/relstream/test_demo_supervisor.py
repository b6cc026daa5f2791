"""The demo's supervisor: readiness, exit codes, and stopping whole process groups
(SIGTERM, then SIGKILL after the grace period)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from relstream.core.processes import group_alive
from relstream.tools.demo.supervisor import Supervisor, SupervisorError

# Starts a helper in its own group, writes a ready file, sleeps; `stubborn` ignores SIGTERM
# (after the helper started, so the helper does not inherit that).
_SERVER = """
import pathlib, signal, subprocess, sys, time
subprocess.Popen(["sleep", "120"])
if sys.argv[2] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
pathlib.Path(sys.argv[1]).touch()
time.sleep(120)
"""


def _server(tmp_path: Path, mode: str = "plain") -> tuple[list[str], Path]:
    ready = tmp_path / f"ready-{mode}"
    return [sys.executable, "-c", _SERVER, str(ready), mode], ready


def test_a_server_is_waited_for_and_stopped_with_its_helper(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    argv, ready = _server(tmp_path)
    child = sup.start("server", argv)
    assert sup.wait_ready("server", ready.exists, timeout_s=30, poll_s=0.05) < 30
    assert group_alive(child.pid)
    assert sup.stop("server") == "SIGTERM"
    assert child.returncode() == -15  # the supervisor reaped it, keeping its exit code
    assert not group_alive(child.pid) and sup.leftovers() == []
    assert sup.stop("server") == "SIGTERM"  # stopping again changes nothing


def test_a_server_ignoring_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs", term_timeout_s=0.5)
    argv, ready = _server(tmp_path, "stubborn")
    child = sup.start("server", argv)
    sup.wait_ready("server", ready.exists, timeout_s=30, poll_s=0.05)
    assert sup.stop_all() == {"server": "SIGKILL"}
    assert child.returncode() == -9 and not group_alive(child.pid)


def test_kill_ends_the_group_at_once(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    argv, ready = _server(tmp_path)
    child = sup.start("server", argv)
    sup.wait_ready("server", ready.exists, timeout_s=30, poll_s=0.05)
    sup.kill("server")
    assert child.stopped_with == "SIGKILL" and child.returncode() == -9
    assert sup.leftovers() == []


def test_run_returns_the_exit_code_and_stops_a_job_past_its_time(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs", term_timeout_s=5)
    assert sup.run("job", [sys.executable, "-c", "raise SystemExit(3)"]) == 3
    with pytest.raises(SupervisorError, match="did not finish within"):
        sup.run("slow", ["sleep", "30"], timeout_s=0.3)
    assert sup.children["slow"].stopped_with == "SIGTERM" and sup.leftovers() == []


def test_wait_ready_fails_when_the_child_exits_or_time_runs_out(tmp_path: Path) -> None:
    sup = Supervisor(tmp_path / "logs")
    sup.start("dies", [sys.executable, "-c", "print('bad config'); raise SystemExit(2)"])
    with pytest.raises(SupervisorError, match="exited with code 2 before it was ready"):
        sup.wait_ready("dies", lambda: False, timeout_s=30, poll_s=0.05)

    def probe() -> bool:
        raise ConnectionError("refused")  # a failing probe is "not yet"

    sup.start("slow", ["sleep", "30"])
    with pytest.raises(SupervisorError, match="was not ready within"):
        sup.wait_ready("slow", probe, timeout_s=0.3, poll_s=0.05)
    sup.stop_all()


# Exits asking for a restart the first time (no marker file yet), then stays up.
_FLAKY = """
import pathlib, sys, time
marker = pathlib.Path(sys.argv[1])
if not marker.exists():
    marker.touch()
    sys.exit(int(sys.argv[2]))
time.sleep(120)
"""


def test_a_child_asking_for_a_restart_is_started_again_and_others_are_not(
        tmp_path: Path) -> None:
    from relstream.core.processes import RESTART_EXIT_CODE

    sup = Supervisor(tmp_path / "logs")
    sup.start("flaky", [sys.executable, "-c", _FLAKY, str(tmp_path / "m1"),
                        str(RESTART_EXIT_CODE)], env={"PATH": "/usr/bin:/bin"}, cwd=tmp_path)
    sup.start("broken", [sys.executable, "-c", _FLAKY, str(tmp_path / "m2"), "3"])
    try:
        for name in ("flaky", "broken"):
            sup.children[name].proc.wait(timeout=30)
        revived = sup.revive()
        assert [c.name for c in revived] == ["flaky"]
        assert revived[0].restarts == 1 and revived[0].alive()
        assert revived[0].env == {"PATH": "/usr/bin:/bin"} and revived[0].cwd == tmp_path
        assert [c.name for c in sup.dead()] == ["broken"]  # any other exit is reported
        assert sup.revive() == []  # running now: nothing to do
    finally:
        sup.stop_all()
    assert sup.leftovers() == []
