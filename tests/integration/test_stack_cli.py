"""`relstream stack up → status → down`, twice, leaves no process behind."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from relstream.settings import CommonSettings
from relstream.stack import _pid_alive, free_port
from tests.conftest import settings_env

pytestmark = pytest.mark.integration


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relstream.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_stack_up_status_down_twice(tmp_path: Path) -> None:
    settings = CommonSettings(kafka_bootstrap=f"127.0.0.1:{free_port()}",
                              state_dir=tmp_path / "state")
    env = settings_env(settings)
    for _ in range(2):
        up = _cli(env, "stack", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "kafka" in up.stdout and " up " in up.stdout
        pid = int((settings.state_dir / "pids" / "kafka.pid").read_text())
        status = _cli(env, "stack", "status")
        assert status.returncode == 0 and f"pid {pid}" in status.stdout
        down = _cli(env, "stack", "down")
        assert down.returncode == 0 and "stopped: kafka" in down.stdout
        assert not _pid_alive(pid)
        status = _cli(env, "stack", "status")
        assert status.returncode == 1 and "down" in status.stdout
    assert _cli(env, "stack", "down").stdout.strip() == "stopped: nothing was running"
