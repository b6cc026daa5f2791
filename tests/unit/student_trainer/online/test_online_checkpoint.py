"""Atomic checkpoints: replace-or-nothing, stale temp files removed, bad files named."""

from __future__ import annotations

from pathlib import Path

import pytest

from student_trainer.online.checkpoint import (
    OnlineCheckpointError,
    clean_temp_files,
    load_checkpoint,
    save_checkpoint,
)


def test_save_load_round_trip_and_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "ce.ckpt"
    assert load_checkpoint(path) is None
    save_checkpoint(path, {"offsets": {"t/0": 5}, "counters": {"labels_seen": 5}})
    save_checkpoint(path, {"offsets": {"t/0": 9}, "counters": {"labels_seen": 9}})
    state = load_checkpoint(path)
    assert state is not None and state["offsets"] == {"t/0": 9}
    assert [p.name for p in path.parent.iterdir()] == ["ce.ckpt"], "no temp file is left"


def test_a_killed_save_leaves_the_previous_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "ce.ckpt"
    save_checkpoint(path, {"offsets": {"t/0": 1}})
    # what a SIGKILL in the middle of torch.save leaves: a torn temp file beside it
    torn = tmp_path / "ce.ckpt.tmp-deadbeef"
    torn.write_bytes(b"PK\x03\x04 half a zip")
    state = load_checkpoint(path)
    assert state is not None and state["offsets"] == {"t/0": 1}
    assert not torn.exists()
    assert clean_temp_files(path) == []


def test_foreign_or_corrupt_files_raise_with_the_path(tmp_path: Path) -> None:
    import torch

    other = tmp_path / "other.ckpt"
    torch.save({"format": "something-else"}, other)
    with pytest.raises(OnlineCheckpointError, match="not a relstream-online-v1"):
        load_checkpoint(other)
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"garbage")
    with pytest.raises(OnlineCheckpointError, match="bad.ckpt"):
        load_checkpoint(bad)


def test_model_update_carries_only_finite_metrics() -> None:
    from relstream.core.manifest import ModelManifest
    from relstream.core.schemas import ModelUpdate, utcnow
    from student_trainer.online.publisher import update_metrics

    manifest = ModelManifest(kind="cross_encoder", graphs={"scorer": "model.onnx"}, inputs={},
                             max_length=8, score_weights={})
    metrics = update_metrics(manifest.replace(metrics={
        "auc": 0.9, "preq_truth_auc": float("nan"), "loss": float("inf"), "note": "text",
        "steps": 12}))
    assert metrics == {"auc": 0.9, "steps": 12.0}
    event = ModelUpdate(ts=utcnow(), event_id="e", name="m", version="1",
                        artifact_uri="/tmp/x", sha256="0" * 64, metrics=metrics)
    assert ModelUpdate.model_validate_json(event.model_dump_json()).metrics == metrics
    assert update_metrics(manifest) == {}
