"""The offline route from contract files alone: no splits.json, no simulator file.

`relstream teacher label` (the lexical baseline teacher, no LLM) labels a shop's pairs,
`relstream train offline` trains on them and reports on the derived test split; a missing
file stops each command before any model loads, with the file named.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relstream.cli import main
from relstream.core.shop_files import CONTRACT_FILES, load_splits
from student_trainer.data import read_teacher_labels


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """catalog.jsonl, search_log.jsonl, labels.jsonl of a tiny world, and nothing else."""
    from relstream.tools.simulator.config import SimConfig
    from relstream.tools.simulator.world import simulate

    world = simulate(SimConfig.tiny(tmp_path_factory.mktemp("world"), seed=8, searches=400))
    out = tmp_path_factory.mktemp("shop")
    for name in CONTRACT_FILES:
        shutil.copy(world / name, out / name)
    return out


def test_teacher_label_then_train_offline_on_contract_files_alone(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    assert sorted(p.name for p in shop.iterdir()) == sorted(CONTRACT_FILES)
    labels = tmp_path / "teacher.jsonl"
    assert main(["teacher", "label", "--backend", "lexical", "--world", str(shop),
                 "--splits", "train:300,validation:60,test:80", "--out", str(labels)]) == 0
    stats = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert stats["labelled"] + stats["failed"] == 440
    # the test split is derived (by query hash) and labelled whole pairs of its queries
    test_queries = set(load_splits(shop)["test"])
    failures = labels.with_name(labels.name + ".failures.jsonl")
    queries = [lb.query for lb in read_teacher_labels(labels)]
    if failures.exists():
        queries += [json.loads(line)["query"] for line in failures.open()]
    assert sum(q in test_queries for q in queries) == 80

    assert main(["train", "offline", "--data", str(shop), "--labels", str(labels), "--tiny",
                 "--kind", "cross_encoder", "--epochs", "1", "--max-steps", "4",
                 "--batch-size", "8", "--threads", "1", "--out", str(tmp_path / "ckpt")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["steps"] == 4
    assert report["dataset"]["train"] > 0 and report["dataset"]["validation"] > 0
    # evaluated on the ground truth of the derived test split, the pairs the teacher labelled
    assert report["test"]["n"] == report["dataset"]["eval_pairs"] > 0
    assert report["teacher"]["n"] == report["test"]["n"]
    assert "lt_n" in report["test"]


def test_missing_files_stop_commands_before_any_model_loads(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    no_catalog = tmp_path / "no-catalog"
    no_catalog.mkdir()
    for name in ("search_log.jsonl", "labels.jsonl"):
        shutil.copy(shop / name, no_catalog / name)
    # A model dir that does not exist: had the command loaded a model first, it would
    # have failed on that instead of naming the missing catalog.
    nowhere = str(tmp_path / "no-such-model")
    assert main(["teacher", "label", "--backend", "transformers", "--model-dir", nowhere,
                 "--world", str(no_catalog), "--out", str(tmp_path / "t.jsonl")]) == 1
    err = capsys.readouterr().err
    assert f"{no_catalog}/catalog.jsonl not found (the items)" in err
    assert "no-such-model" not in err and not (tmp_path / "t.jsonl").exists()

    assert main(["teacher", "eval", "--backend", "transformers", "--model-dir", nowhere,
                 "--world", str(no_catalog), "--out", str(tmp_path / "r")]) == 1
    assert "catalog.jsonl not found (the items)" in capsys.readouterr().err

    no_truth = tmp_path / "no-truth"
    no_truth.mkdir()
    for name in ("catalog.jsonl", "search_log.jsonl"):
        shutil.copy(shop / name, no_truth / name)
    teacher = tmp_path / "teacher.jsonl"
    teacher.write_text("")
    for argv in (["train", "offline", "--data", str(no_truth), "--labels", str(teacher)],
                 ["bench", "mkd", "--data", str(no_truth), "--labels", str(teacher),
                  "--out", str(tmp_path / "b")]):
        assert main([*argv, "--weights", nowhere]) == 1
        err = capsys.readouterr().err
        assert f"{no_truth}/labels.jsonl not found (the ground-truth grades" in err, err
        assert "no-such-model" not in err

    assert main(["train", "offline", "--data", str(shop), "--labels",
                 str(tmp_path / "none.jsonl"), "--weights", nowhere]) == 1
    assert "teacher labels not found" in capsys.readouterr().err
