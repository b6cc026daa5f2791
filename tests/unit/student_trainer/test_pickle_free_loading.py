"""Checkpoints are read with `weights_only=True`: a pickle that would run code is refused
and its code never runs, while real checkpoints still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from relstream.core import registry
from student_trainer.factory import load_checkpoint
from student_trainer.online.checkpoint import OnlineCheckpointError, read_checkpoint
from student_trainer.online.publisher import STUDENT_FILE, load_published_student
from student_trainer.student_base import CHECKPOINT_FORMAT, CheckpointError


class WritesAFile:
    """Unpickling this with `weights_only=False` creates `marker` (i.e. runs code)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[Path]]:
        return Path.touch, (self.marker,)


def _evil(path: Path, marker: Path) -> Path:
    torch.save({"format": CHECKPOINT_FORMAT, "student_config": {}, "state_dict": {},
                "payload": WritesAFile(marker)}, path)
    return path


def test_a_student_pt_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_checkpoint(str(_evil(tmp_path / "student.pt", marker)))
    assert not marker.exists()


def test_a_published_student_pt_that_runs_code_is_refused(tmp_path: Path) -> None:
    """Even with a manifest whose sha256 matches (someone rewrote both)."""
    root, marker = tmp_path / "reg", tmp_path / "pwned"
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "model.onnx").write_bytes(b"graph")
    _evil(stage / STUDENT_FILE, marker)
    (stage / "manifest.json").write_text(json.dumps({
        "kind": "cross_encoder", "graphs": {"scorer": "model.onnx"}, "inputs": {},
        "max_length": 8, "score_weights": {}}))
    version = registry.publish(root, stage, "cross_encoder")
    registry.verify(registry.version_dir(root, "cross_encoder", version))
    with pytest.raises(CheckpointError, match="cannot read checkpoint"):
        load_published_student(root, "cross_encoder", version)
    assert not marker.exists()
    shutil.rmtree(stage)


def test_an_online_checkpoint_that_runs_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "cross_encoder.ckpt"
    torch.save({"format": "relstream-online-v1", "offsets": {}, "x": WritesAFile(marker)},
               path)
    with pytest.raises(OnlineCheckpointError, match="cannot read checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()
