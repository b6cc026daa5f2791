"""`relstream demo --tiny` end to end on the session's Kafka broker.

The demo runs as a subprocess (its report opens the server's embedded ClickHouse path,
and chdb allows one path per process, so not this test process). Checks: it exits 0, every
child was started and stopped, no process of the run is left, the A/B report and the
plots exist, and the report has both arms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]

CHILDREN = ("streams", "teacher", "trainer", "server")


def _processes_under(path: Path) -> list[str]:
    """Live processes whose working directory or command line mentions `path`."""
    found = []
    needle = str(path)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and (needle in cmdline or cwd.startswith(needle)):
            found.append(f"{entry.name}: {cmdline[:200]} (cwd {cwd})")
    return found


def test_tiny_demo_runs_the_loop_and_cleans_up(kafka_broker: CommonSettings,
                                               tmp_path: Path) -> None:
    out = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELSTREAM_")}
    env.update({
        "RELSTREAM_KAFKA_BOOTSTRAP": kafka_broker.kafka_bootstrap,
        "RELSTREAM_STATE_DIR": str(tmp_path / "state"),
        "RELSTREAM_CACHE_DIR": str(kafka_broker.cache_dir),
    })
    proc = subprocess.run(
        [sys.executable, "-m", "relstream.cli", "demo", "--tiny", "--out", str(out)],
        env=env, capture_output=True, text=True, timeout=400,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-6000:]

    for name in CHILDREN:
        assert (out / "logs" / f"{name}.log").is_file(), f"{name} never started:\n{output[-4000:]}"
        assert f"   {name}: SIGTERM" in proc.stdout or f"   {name}: exited" in proc.stdout, \
            f"{name} was not stopped cleanly:\n{proc.stdout[-4000:]}"
    assert "SIGKILL" not in proc.stdout
    # A quiet console: library logs (kafka-python's binary group metadata) go to files.
    assert "member_metadata" not in output and " kafka." not in output, output[-3000:]
    assert (out / "logs" / "demo.log").stat().st_size > 0
    assert "still alive" not in proc.stdout
    assert _processes_under(out) == []

    summary = json.loads((out / "report" / "summary.json").read_text())
    arms = {a["arm"] for a in summary["all_queries"]["arms"]}
    assert arms == {"frozen", "continuous"}, summary["all_queries"]
    assert summary["versions_published"][0] == "1"
    assert summary["verdict"]
    for png in ("prequential_auc.png", "ab_ctr.png", "freshness.png"):
        assert (out / "plots" / png).stat().st_size > 1000, png
    assert "A/B report: the new brand's queries" in proc.stdout
