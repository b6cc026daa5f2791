"""The continuous trainer on the real broker: a `new-brand` world is labelled by the real
teacher worker (with the rule-based stand-in backend: no LLM here produces parsable CoT),
the trainer runs as a subprocess, is SIGKILLed mid-stream, restarts and finishes.

Checks: every label accounted for exactly once in the checkpoint, at least two versions
published and all verifying, no temp dirs, model-update events for the versions, and the
prequential AUC (against ground truth) on the new brand's queries rises after launch.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from relstream.core.settings import CommonSettings
from tests.integration.kafka_read import read_topic

pytestmark = [pytest.mark.integration, pytest.mark.cpu_heavy]


def _trainer_cmd(world: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "relstream.cli.train_online", "online", "--tiny",
            "--world", str(world), *extra]


def _env(subprocess_env, root: Path) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return subprocess_env(
        RELSTREAM_REGISTRY_DIR=str(root), RELSTREAM_ONLINE_GATE_EVERY_LABELS="250",
        RELSTREAM_ONLINE_CHECKPOINT_EVERY_LABELS="64", RELSTREAM_ONLINE_POLL_MAX="32",
        RELSTREAM_ONLINE_MIN_VALIDATION="10", RELSTREAM_ONLINE_HOLDOUT_EVERY="8",
        RELSTREAM_ONLINE_LR="1e-3", RELSTREAM_ONLINE_HEAD_LR="3e-3",
        RELSTREAM_ONLINE_TOLERANCE="0.1", RELSTREAM_ONLINE_THREADS="1",
        RELSTREAM_ONLINE_LOSS="score", RELSTREAM_ONLINE_MAX_LENGTH="32")


def test_new_brand_stream_sigkill_and_resume(stack_settings: CommonSettings, subprocess_env,
                                             tmp_path: Path) -> None:
    from relstream.core import registry
    from relstream.core.topics import MODEL_UPDATES, TEACHER_LABELS
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate
    from relstream.tools.world_feed import label_requests, run_teacher, send_requests
    from streams.replay import replay_files
    from student_trainer.online.checkpoint import load_checkpoint
    from student_trainer.online.prequential import read_points_jsonl, summarise

    world = simulate(SimConfig(out=tmp_path / "world", items=150, days=1, searches=500,
                               scenario="new-brand", change_at_frac=0.4))
    replay_files(stack_settings, world / "catalog.jsonl", None)
    requests = label_requests(world)
    send_requests(stack_settings, requests)
    stats = run_teacher(stack_settings, world, idle_exit_s=3.0)
    produced = len(read_topic(stack_settings, TEACHER_LABELS))
    assert produced == len(requests) == stats.handled, "every pair labelled exactly once"

    root = tmp_path / "registry"
    env = _env(subprocess_env, root)
    log1 = open(tmp_path / "run1.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(_trainer_cmd(world), env=env, stdout=log1, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while not registry.list_versions(root, "cross_encoder"):
        assert proc.poll() is None, (tmp_path / "run1.log").read_text()[-3000:]
        assert time.monotonic() < deadline, "no version published within 120 s"
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    log1.close()
    # What a kill in the middle of a publish leaves behind (the registry's temp prefix):
    (root / f"{registry.TMP_PREFIX}cross_encoder-halfwritten").mkdir()
    (root / f"{registry.TMP_PREFIX}cross_encoder-halfwritten" / "model.onnx").write_bytes(b"x")

    run2 = subprocess.run(_trainer_cmd(world, "--idle-exit", "4"), env=env,
                          capture_output=True, text=True, timeout=300)
    assert run2.returncode == 0, run2.stdout[-3000:] + run2.stderr[-3000:]
    summary = json.loads(run2.stdout[run2.stdout.index("{"):])
    assert summary["started_from"].startswith("checkpoint")

    state = load_checkpoint(Path(env["RELSTREAM_STATE_DIR"]) / "online" / "cross_encoder.ckpt")
    assert state is not None
    c = state["counters"]
    assert c["labels_seen"] == produced, c
    assert (c["labels_trained"] + c["labels_held_out"] + c["labels_skipped"]
            + c["labels_duplicate"]) == produced
    assert c["labels_duplicate"] == 0
    assert c["labels_skipped"] == 0
    assert sum(state["offsets"].values()) == produced

    versions = registry.list_versions(root, "cross_encoder")
    assert len(versions) >= 2, versions
    for v in versions:
        registry.verify(registry.version_dir(root, "cross_encoder", v))
    assert not [p for p in root.iterdir() if p.name.startswith(registry.TMP_PREFIX)]
    announced = {json.loads(r.value)["version"] for r in read_topic(stack_settings,
                                                                    MODEL_UPDATES)}
    assert set(versions) <= announced

    points = read_points_jsonl(Path(env["RELSTREAM_STATE_DIR"]) / "online"
                               / "cross_encoder-prequential.jsonl")
    assert [p.seq for p in points] == list(range(produced)), "each label scored once"
    brand = [p for p in points if p.new_brand]
    half = len(brand) // 2
    early, late = summarise(brand[:half]), summarise(brand[half:])
    print(f"new-brand prequential AUC vs ground truth: early {early['truth_auc']:.3f} "
          f"(n={half}), late {late['truth_auc']:.3f} (n={len(brand) - half}); "
          f"versions {versions}")
    assert late["truth_auc"] > early["truth_auc"]
