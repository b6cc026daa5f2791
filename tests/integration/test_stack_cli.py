"""`relstream stack up → status → down`, twice, leaves no process behind.

`up` starts the broker and the teacher's vLLM server (here serving the tiny test model,
eager, so it is up in ~30 s); `down` stops both, whole process groups.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from relstream.core.processes import pid_alive
from relstream.core.settings import CommonSettings
from relstream.stack import free_port
from tests.conftest import settings_env

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "relstream.cli", *args], env=env,
                          capture_output=True, text=True, timeout=180)


def test_stack_up_status_down_twice(tmp_path: Path, tiny_format_dir: Path) -> None:
    kafka_port = free_port()
    settings = CommonSettings(kafka_bootstrap=f"127.0.0.1:{kafka_port}",
                              state_dir=tmp_path / "state")
    vllm_port = free_port(avoid={kafka_port})
    env = settings_env(settings, RELSTREAM_TEACHER_MODEL_DIR=str(tiny_format_dir),
                       RELSTREAM_VLLM_PORT=str(vllm_port), RELSTREAM_VLLM_ENFORCE_EAGER="true",
                       RELSTREAM_VLLM_DTYPE="float32", RELSTREAM_VLLM_KV_CACHE_GB="1")
    for _ in range(2):
        up = _cli(env, "stack", "up")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "kafka" in up.stdout and " up " in up.stdout
        assert f"vllm        up    http://127.0.0.1:{vllm_port}/v1" in up.stdout, up.stdout
        pid = int((settings.state_dir / "pids" / "kafka.pid").read_text())
        vllm_pid = int((settings.state_dir / "pids" / "vllm.pid").read_text())
        models = httpx.get(f"http://127.0.0.1:{vllm_port}/v1/models", timeout=5).json()
        assert models["data"][0]["id"] == "ellm-rele"
        status = _cli(env, "stack", "status")
        assert status.returncode == 0 and f"pid {pid}" in status.stdout
        assert f"pid {vllm_pid}" in status.stdout
        down = _cli(env, "stack", "down")
        assert down.returncode == 0 and "stopped: vllm, kafka" in down.stdout, down.stdout
        assert not pid_alive(pid) and not pid_alive(vllm_pid)
        status = _cli(env, "stack", "status")
        assert status.returncode == 1 and "down" in status.stdout
    assert _cli(env, "stack", "down").stdout.strip() == "stopped: nothing was running"
