"""The two benchmark programs run end to end with tiny encoders and write their tables."""

from __future__ import annotations

import json
from pathlib import Path

from relstream.cli import main


def test_bench_mkd_writes_rows_for_teacher_and_students(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "mkd", "--data", str(data_dir), "--labels",
                 str(data_dir / "teacher_labels.jsonl"), "--tiny", "--kinds", "cross_encoder",
                 "--presets", "hard,full", "--epochs", "1", "--batch-size", "4",
                 "--threads", "1", "--out", str(out)]) == 0
    rows = json.loads((out / "mkd.json").read_text())["rows"]
    assert [r["losses"] for r in rows] == ["-", "hard", "full"]
    assert rows[0]["model"].startswith("teacher") and rows[0]["auc_vs_teacher"] == 1.0
    assert "| model |" in (out / "mkd.md").read_text()


def test_bench_mkd_seeds_gives_each_cell_a_mean_and_interval(data_dir: Path,
                                                            tmp_path: Path) -> None:
    out = tmp_path / "bench"
    assert main(["bench", "mkd", "--data", str(data_dir), "--labels",
                 str(data_dir / "teacher_labels.jsonl"), "--tiny", "--kinds",
                 "cross_encoder,two_tower", "--presets", "hard,full", "--epochs", "1",
                 "--batch-size", "4", "--threads", "1", "--seeds", "3,4",
                 "--out", str(out)]) == 0
    data = json.loads((out / "mkd-ablation.json").read_text())
    assert data["n_train_labels"] > 0
    assert len(data["per_seed"]) == 2 * 2 * 2  # seeds × students × presets
    teacher, *cells = data["rows"]
    assert teacher["student"].startswith("teacher") and teacher["losses"] == "-"
    assert [(r["student"], r["losses"], r["seeds"]) for r in cells] == [
        ("cross_encoder", "hard", 2), ("cross_encoder", "full", 2),
        ("two_tower", "hard", 2), ("two_tower", "full", 2)]
    for row in cells:
        runs = [r["auc"] for r in data["per_seed"]
                if (r["student"], r["losses"]) == (row["student"], row["losses"])]
        assert row["auc_mean"] == sum(runs) / 2
        low, high = row["auc_ci"]
        assert low <= row["auc_mean"] <= high
    # A run cut short resumes from its partial file: nothing is trained twice.
    partial = json.loads((out / "mkd-ablation.partial.json").read_text())
    assert main(["bench", "mkd", "--data", str(data_dir), "--labels",
                 str(data_dir / "teacher_labels.jsonl"), "--tiny", "--kinds",
                 "cross_encoder,two_tower", "--presets", "hard,full", "--epochs", "1",
                 "--batch-size", "4", "--threads", "1", "--seeds", "3", "--resume",
                 "--out", str(out)]) == 0
    again = json.loads((out / "mkd-ablation.json").read_text())
    assert again["per_seed"] == [r for r in partial if r["seed"] == 3]
    paired = {(p["student"], p["losses"]): p for p in data["paired_vs_hard"]}
    assert set(paired) == {("cross_encoder", "full - hard"), ("two_tower", "full - hard")}
    assert all(p["seeds"] == 2 and p["lt_auc"]["verdict"] in
               ("better", "worse", "no difference detected") for p in paired.values())


def test_bench_serve_models_times_every_backend(tmp_path: Path) -> None:
    assert main(["bench", "serve-models", "--tiny", "--layers", "2", "--items", "4",
                 "--repeats", "2", "--out", str(tmp_path)]) == 0
    rows = json.loads((tmp_path / "serve-models.json").read_text())["rows"]
    backends = [(r["model"], r["backend"]) for r in rows]
    assert ("cross_encoder", "onnxruntime int8") in backends
    assert ("two_tower", "onnxruntime, cached items") in backends
    fp32 = [r for r in rows if r["backend"] in ("onnxruntime", "onnxruntime, cached items")]
    assert all(r["max_abs_logit_diff"] <= 1e-4 for r in fp32)
