"""INT8 is served only when the version's recorded gate shows its validation AUC within
the tolerance of fp32; anything missing or doubtful means the fp32 graphs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from relstream.core.manifest import read_manifest
from relstream.tools.toy_models import publish_toy_model
from serving.model_holder import ModelHolder
from serving.precision import choose_graphs
from serving.scorer_loading import ScorerOptions, scorer_loader

QUERY = "stride runner black"
TEXTS = ["Stride Runner 4 black shoe", "trailpeak hiking boot"]
PASSING = {"fp32_auc": 0.861, "int8_auc": 0.858, "pairs": 2705}
FAILING = {"fp32_auc": 0.861, "int8_auc": 0.85, "pairs": 2705}


@pytest.fixture(scope="module")
def int8_registry(tmp_path_factory: pytest.TempPathFactory, toy_vocab: list[str]) -> Path:
    """cross_encoder v1: gate passes, v2: gate fails, v3: no gate; two_tower v1 passes."""
    root = tmp_path_factory.mktemp("int8-registry")
    for gate in (PASSING, FAILING):
        publish_toy_model(root, "cross_encoder", seed=5, vocab=toy_vocab, int8_gate=gate)
    publish_toy_model(root, "cross_encoder", seed=5, vocab=toy_vocab)
    publish_toy_model(root, "two_tower", kind="two_tower", seed=7, vocab=toy_vocab,
                      int8_gate=PASSING)
    return root


def test_the_gate_decides_which_graphs(int8_registry: Path) -> None:
    passing = read_manifest(int8_registry / "cross_encoder" / "1")
    chosen = choose_graphs(passing)
    assert chosen.name == "int8" and chosen.graphs == {"scorer": "model.int8.onnx"}
    assert "loss 0.0030 <= 0.005" in chosen.reason
    assert choose_graphs(passing, max_auc_drop=0.001).name == "fp32"
    assert choose_graphs(passing, mode="off").name == "fp32"
    failing = choose_graphs(read_manifest(int8_registry / "cross_encoder" / "2"))
    assert failing.name == "fp32" and "loss 0.0110 > 0.005" in failing.reason
    no_gate = choose_graphs(read_manifest(int8_registry / "cross_encoder" / "3"))
    assert no_gate.name == "fp32" and "no INT8 graphs" in no_gate.reason
    towers = choose_graphs(read_manifest(int8_registry / "two_tower" / "1"))
    assert towers.name == "int8" and set(towers.graphs) == {"query_tower", "item_tower", "head"}


@pytest.mark.parametrize("gate, why", [
    (None, "never measured"),
    ({"fp32_auc": 0.86}, "no finite"),
    ({"fp32_auc": 0.86, "int8_auc": float("nan")}, "no finite"),
    ({"fp32_auc": "0.86", "int8_auc": 0.86}, "no finite"),
    ({"fp32_auc": True, "int8_auc": 0.86}, "no finite"),
])
def test_a_missing_or_doubtful_record_means_fp32(int8_registry: Path, tmp_path: Path,
                                                   gate: object, why: str) -> None:
    directory = tmp_path / "v"
    shutil.copytree(int8_registry / "cross_encoder" / "1", directory)
    raw = json.loads((directory / "manifest.json").read_text())
    raw["int8_gate"] = gate
    if gate is None:
        del raw["int8_gate"]
    (directory / "manifest.json").write_text(json.dumps(raw))
    chosen = choose_graphs(read_manifest(directory))
    assert chosen.name == "fp32" and why in chosen.reason


def test_int8_graphs_not_in_the_verified_files_are_not_served(int8_registry: Path,
                                                             tmp_path: Path) -> None:
    directory = tmp_path / "v"
    shutil.copytree(int8_registry / "cross_encoder" / "1", directory)
    raw = json.loads((directory / "manifest.json").read_text())
    del raw["files"]["model.int8.onnx"]
    (directory / "manifest.json").write_text(json.dumps(raw))
    assert "not in the manifest's files" in choose_graphs(read_manifest(directory)).reason


def test_the_holder_serves_what_the_gate_chose(int8_registry: Path) -> None:
    load = scorer_loader(ScorerOptions())
    scores = {}
    for version, precision in (("1", "int8"), ("2", "fp32"), ("3", "fp32")):
        holder = ModelHolder(int8_registry, "cross_encoder", version, load=load)
        assert holder.refresh()
        with holder.lease() as model:
            assert model.scorer.precision == precision
            scores[version] = model.scorer.score(QUERY, TEXTS)
        holder.close()
    # v2 and v3 run the same fp32 graph; v1's INT8 twin is another graph, other scores
    assert scores["2"] == scores["3"] and scores["1"] != scores["2"]
    off = ModelHolder(int8_registry, "cross_encoder", "1",
                      load=scorer_loader(ScorerOptions(int8="off")))
    off.refresh()
    with off.lease() as model:
        assert model.scorer.precision == "fp32" and model.scorer.score(QUERY, TEXTS) == scores["2"]
    off.close()
