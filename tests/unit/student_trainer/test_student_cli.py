"""`relstream train offline | eval | export` end to end with a tiny encoder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from relstream.cli import main
from relstream.core import registry


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
    assert 0.0 <= report["tfidf"]["auc"] <= 1.0 and "ndcg_lin@10" in report["tfidf"]
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
    assert manifest.kind == "two_tower" and "test_auc" in manifest.metrics
    assert manifest.config["loss_weights"]["ce"] == 0.5
    registry.verify(registry.version_dir(reg, "tt", "1"))
    # The version carries its torch weights: continuous training can start from it.
    from student_trainer.online.publisher import load_published_student

    assert load_published_student(reg, "tt", "1").kind == "two_tower"
    # The published version, scored through its ONNX graphs as serving does, gives the
    # exported metrics again (same pairs, same weights) beside TF-IDF on those pairs.
    assert main(["train", "eval", "--registry", str(reg), "--model", "tt",
                 "--data", str(data_dir)]) == 0
    served = json.loads(capsys.readouterr().out)
    assert served["version"] == "1" and served["kind"] == "two_tower"
    assert served["student"]["n"] == served["pairs"] > 0
    assert served["student"]["auc"] == pytest.approx(manifest.metrics["test_auc"], abs=1e-6)
    assert set(served["tfidf"]) >= {"auc", "ndcg_lin@10"}


def test_rank_presets_and_flags_reach_the_training_config() -> None:
    import argparse

    from relstream.cli.train import _loss_args, _train_args
    from student_trainer.config import (
        LOSS_PRESETS,
        LossWeights,
        loss_weights_from,
        train_config_from,
    )

    parser = argparse.ArgumentParser()
    _loss_args(parser)
    _train_args(parser)
    args = parser.parse_args(["--loss", "full+rank", "--w-rank", "0.25", "--query-group", "8"])
    weights = loss_weights_from(args)
    assert weights.rank == 0.25 and weights.kd == LossWeights.preset("full+rank").kd
    assert train_config_from(args).query_group == 8
    plain = parser.parse_args([])
    assert loss_weights_from(plain) == LossWeights.preset("full") and plain.query_group == 0
    for name in LOSS_PRESETS:
        assert loss_weights_from(parser.parse_args(["--loss", name])) == LossWeights.preset(name)
    with pytest.raises(SystemExit):
        parser.parse_args(["--loss", "no-such-preset"])


def test_bench_rank_runs_from_the_cli(data_dir: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`relstream bench rank`: each arm trained and scored on the same pairs as TF-IDF."""
    out = tmp_path / "rank"
    queries = json.loads((data_dir / "splits.json").read_text())["train"]
    # The bench trains on the non-test queries' labels and scores every test pair, so
    # the fixture's one-pool split becomes disjoint train / test queries.
    (data_dir / "splits.json").write_text(json.dumps({
        "train": queries[:-2], "validation": queries[:2], "test": queries[-2:],
        "test_long_tail": queries[-1:]}))
    assert main(["bench", "rank", "--data", str(data_dir), "--labels",
                 str(data_dir / "teacher_labels.jsonl"), "--arms", "full/uniform,full+rank/grouped",
                 "--seeds", "0", "--layers", "1", "--epochs", "1", "--threads", "1",
                 "--out", str(out)]) == 0
    result = json.loads((out / "rank.json").read_text())
    assert {r["arm"] for r in result["rows"]} == {"full/uniform", "full+rank/grouped"}
    assert 0.0 <= result["baselines"]["tfidf"]["all"]["auc"] <= 1.0
    assert "full+rank/grouped" in capsys.readouterr().out
