"""The two benchmark programs run end to end with tiny encoders and write their tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

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


def test_mkd_search_chooses_on_validation_and_the_ablation_uses_its_choice(
        data_dir: Path, tmp_path: Path, monkeypatch: Any) -> None:
    import student_trainer.pipeline as pipeline
    from relstream.tools.bench import mkd_search

    out = tmp_path / "search"
    # The search must not read a ground-truth grade: loading one fails this test.
    def no_truth(path: Path) -> Any:
        raise AssertionError(f"the search read ground truth from {path}")

    with monkeypatch.context() as patch:
        patch.setattr(pipeline, "load_truth", no_truth)
        assert main(["bench", "mkd-search", "--data", str(data_dir), "--labels",
                     str(data_dir / "teacher_labels.jsonl"), "--tiny", "--kinds",
                     "cross_encoder,two_tower", "--batch-size", "4", "--threads", "1",
                     "--out", str(out)]) == 0
    found = json.loads((out / "mkd-search.json").read_text())
    grid = len(mkd_search.DIM_GRID) * len(mkd_search.ALIGN_GRID)
    temps = len(mkd_search.TEMPERATURE_GRID)
    assert len(found["rows"]) == 2 * (grid + temps)
    for kind, align in (("cross_encoder", "attn"), ("two_tower", "emb")):
        rows = [r for r in found["rows"] if r["student"] == kind]
        assert {r["align_term"] for r in rows} == {align}
        for preset in ("cot", "full"):
            cands = [r for r in rows if r["preset"] == preset]
            chosen = [r for r in cands if r["chosen"]]
            assert len(chosen) == 1
            # the chosen one is the best by the stated criterion, among its candidates
            best = max(cands, key=lambda r: (r["val_teacher_auc"], -r["val_soft_ce"]))
            assert chosen[0]["val_teacher_auc"] == best["val_teacher_auc"]
        cot = found["chosen"][kind]["cot"]
        full = found["chosen"][kind]["full"]
        assert cot["kd"] == 0 and cot["dim"] in mkd_search.DIM_GRID
        assert cot[align] in mkd_search.ALIGN_GRID
        assert (full["dim"], full[align]) == (cot["dim"], cot[align]) and full["kd"] == 0.5
    # ...and `bench mkd --searched` trains `full@searched` with exactly those weights
    ablation = tmp_path / "ablation"
    assert main(["bench", "mkd", "--data", str(data_dir), "--labels",
                 str(data_dir / "teacher_labels.jsonl"), "--tiny", "--kinds", "two_tower",
                 "--presets", "full,full@searched", "--epochs", "1", "--batch-size", "4",
                 "--threads", "1", "--seeds", "0,1", "--searched",
                 str(out / "mkd-search.json"), "--out", str(ablation)]) == 0
    data = json.loads((ablation / "mkd-ablation.json").read_text())
    assert [r["losses"] for r in data["rows"][1:]] == ["full", "full@searched"]
    assert [p["losses"] for p in data["paired_vs_hard"]] == ["full@searched - full"]
    assert "full@searched" in data["notes"]
    weights = mkd_search.weights_for("full@searched", "two_tower",
                                     mkd_search.load_searched(out / "mkd-search.json"))
    assert weights.to_dict() == found["chosen"]["two_tower"]["full"]
