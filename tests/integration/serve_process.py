"""`relstream serve` as a subprocess for integration tests: start, wait, stop."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from relstream.core.settings import CommonSettings
from relstream.stack import free_port
from tests.conftest import settings_env


def start_server(settings: CommonSettings, tmp: Path, args: list[str], *, model: str,
                 **env: str) -> tuple[subprocess.Popen[bytes], str]:
    """`relstream serve <args>` on a free loopback port, its log in `<tmp>/server.log`;
    returns once `model@latest` (or its pinned arms) answer /readyz."""
    port = free_port()
    log = (tmp / "server.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "relstream.cli", "serve", "--host", "127.0.0.1", "--port",
         str(port), *args], env=settings_env(settings, **env), stdout=log,
        stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: ready(base), 120, "the server ready", proc, tmp)
    return proc, base


def ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def ready_version(base: str, model: str) -> str | None:
    try:
        resp = httpx.get(f"{base}/readyz", timeout=2.0)
    except httpx.HTTPError:
        return None
    return resp.json()["models"].get(f"{model}@latest") if resp.status_code == 200 else None


def wait_for(check: Any, timeout_s: float, what: str, proc: subprocess.Popen[bytes],
             tmp: Path) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited ({proc.returncode}) waiting for {what}:\n"
                                 + (tmp / "server.log").read_text()[-3000:])
        if check():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}:\n"
                         + (tmp / "server.log").read_text()[-3000:])


def stop_server(proc: subprocess.Popen[bytes], tmp: Path) -> None:
    """SIGTERM, and a clean shutdown (uvicorn re-raises the signal after it, hence -15)."""
    proc.terminate()
    try:
        code = proc.wait(60)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = proc.wait(10)
    log = (tmp / "server.log").read_text()
    assert code in (0, -15) and "Application shutdown complete" in log, (code, log[-3000:])
