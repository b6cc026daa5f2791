"""`relstream train offline | eval | export` end to end with a tiny encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relstream.cli import main
from student_trainer import registry


def test_offline_eval_export_publish(data_dir: Path, tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    ckpt_dir = tmp_path / "ckpt"
    assert main(["train", "offline", "--data", str(data_dir), "--labels",
                 str(data_dir / "teacher_labels.jsonl"), "--tiny", "--kind", "two_tower",
                 "--epochs", "2", "--batch-size", "4", "--threads", "1",
                 "--out", str(ckpt_dir)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] >= 1 and set(report["test"]) >= {"auc", "ndcg_lin@10", "macro_f1"}
    assert report["teacher"]["n"] == report["test"]["n"]  # same pairs for every row
    ckpt = ckpt_dir / "two_tower.pt"
    assert main(["train", "eval", "--checkpoint", str(ckpt), "--data", str(data_dir)]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["student"]["n"] > 0
    reg = tmp_path / "registry"
    assert main(["train", "export", "--checkpoint", str(ckpt), "--out", str(tmp_path / "stage"),
                 "--data", str(data_dir), "--publish", str(reg), "--name", "tt"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert exported["version"] == "1" and exported["parity_max_abs_diff"] <= 1e-4
    manifest = registry.load_manifest(reg, "tt", "1")
    assert manifest["kind"] == "two_tower" and "test_auc" in manifest["metrics"]
    assert manifest["config"]["loss_weights"]["ce"] == 0.5
    registry.verify(registry.version_dir(reg, "tt", "1"))
