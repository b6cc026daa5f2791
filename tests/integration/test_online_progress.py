"""`relstream train online` shows its progress long before its first gate.

A small world is labelled by the real teacher worker (the lexical baseline backend) into
the real broker; the trainer runs as a subprocess with gates far away (1e6 labels, 60
minutes) and a 1 s progress interval, and its log must carry progress lines with the labels
seen, steps, loss and the countdown to the next gate, and no gate.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings

pytestmark = pytest.mark.integration

_LINE = re.compile(r"cross_encoder: ([\d,]+) labels seen \(\+([\d,]+) in \d+s\), ([\d,]+) "
                   r"trained, .*; ([\d,]+) steps, (loss [\d.]+|no step)")


def test_progress_lines_before_the_first_gate(stack_settings: CommonSettings, subprocess_env,
                                              tmp_path: Path) -> None:
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate
    from relstream.tools.world_feed import label_requests, run_teacher, send_requests
    from streams.replay import replay_files

    world = simulate(SimConfig(out=tmp_path / "world", items=120, days=1, searches=200))
    replay_files(stack_settings, world / "catalog.jsonl", None)
    requests = label_requests(world)
    send_requests(stack_settings, requests)
    run_teacher(stack_settings, world, idle_exit_s=3.0)

    env = subprocess_env(
        RELSTREAM_REGISTRY_DIR=str(tmp_path / "registry"),
        RELSTREAM_ONLINE_GATE_EVERY_LABELS="1000000", RELSTREAM_ONLINE_GATE_EVERY_MINUTES="60",
        RELSTREAM_ONLINE_PROGRESS_INTERVAL_S="1", RELSTREAM_ONLINE_POLL_MAX="16",
        RELSTREAM_ONLINE_THREADS="1", RELSTREAM_ONLINE_MAX_LENGTH="32")
    run = subprocess.run([sys.executable, "-m", "relstream.cli.train_online", "online",
                          "--tiny", "--idle-exit", "3"], env=env, capture_output=True,
                         text=True, timeout=300)
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-3000:]
    lines = list(_LINE.finditer(log))
    assert len(lines) >= 2, log[-3000:]
    print("\n".join(line for line in log.splitlines() if "labels seen" in line))
    seen = [int(m.group(1).replace(",", "")) for m in lines]
    assert seen == sorted(seen) and seen[-1] == len(requests)
    assert any(m.group(5).startswith("loss") for m in lines)
    assert re.search(r"next gate in [\d,]+ labels or (59m|1h00m)", log)
    assert "gate 1:" not in log  # every line above came before any gate
