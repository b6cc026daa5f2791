"""ONNX export of both students: graphs, tokenizer, manifest, parity, publishing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from relstream.core import registry
from student_trainer.export import (
    ExportError,
    export_tiny_model,
    ort_session,
    parity_check,
    tiny_config,
)
from student_trainer.factory import build_student


@pytest.mark.parametrize("kind,graphs", [
    ("cross_encoder", {"scorer": "model.onnx"}),
    ("two_tower", {"query_tower": "query_tower.onnx", "item_tower": "item_tower.onnx",
                   "head": "head.onnx"}),
])
def test_tiny_export_publishes_and_verifies(tmp_path: Path, kind: str,
                                            graphs: dict[str, str]) -> None:
    manifest = export_tiny_model(tmp_path / "stage", kind, seed=1)
    assert manifest.kind == kind and manifest.graphs == graphs
    assert manifest.parity_max_abs_diff <= 1e-4
    assert "tokenizer/tokenizer.json" in manifest.files
    version = registry.publish(tmp_path / "reg", tmp_path / "stage", kind)
    vdir = registry.version_dir(tmp_path / "reg", kind, version)
    registry.verify(vdir)
    again = registry.publish(tmp_path / "reg", tmp_path / "stage", kind)
    assert registry.load_manifest(tmp_path / "reg", kind, again).parent_version == version
    for role, file in graphs.items():
        session = ort_session(vdir / file)
        assert [i.name for i in session.get_inputs()] == manifest.inputs[role]


def test_cross_encoder_graph_has_dynamic_axes(tmp_path: Path) -> None:
    export_tiny_model(tmp_path, "cross_encoder", seed=0)
    session = ort_session(tmp_path / "model.onnx")
    for batch, seq in ((1, 5), (7, 30)):
        feed = {"input_ids": np.ones((batch, seq), np.int64),
                "attention_mask": np.ones((batch, seq), np.int64),
                "token_type_ids": np.zeros((batch, seq), np.int64)}
        (logits,) = session.run(["logits"], feed)
        assert logits.shape == (batch, 4)


def test_broken_parity_fails_the_export(tmp_path: Path) -> None:
    manifest = export_tiny_model(tmp_path, "cross_encoder", seed=0)
    torch.manual_seed(5)
    other = build_student(tiny_config("cross_encoder"))  # different weights than the graph
    with pytest.raises(ExportError, match="parity broken"):
        parity_check(other, tmp_path, manifest.graphs, vocab=100)


def test_quantized_graphs_are_listed_and_run(tmp_path: Path) -> None:
    manifest = export_tiny_model(tmp_path, "cross_encoder", seed=0, quantize=True)
    int8 = manifest.quantized_graphs["scorer"]
    assert int8 in manifest.files
    session = ort_session(tmp_path / int8)
    feed = {n: np.ones((2, 6), np.int64) for n in manifest.inputs["scorer"]}
    assert session.run(None, feed)[0].shape == (2, 4)


def test_pooling_is_part_of_the_graph_and_old_configs_stay_cls() -> None:
    from dataclasses import replace

    from student_trainer.config import StudentConfig

    saved = tiny_config("cross_encoder").to_dict()
    assert saved["pooling"] == "mean"
    del saved["pooling"]  # a checkpoint written before the field existed
    assert StudentConfig.from_dict(saved).pooling == "cls"
    torch.manual_seed(3)
    mean = build_student(tiny_config("cross_encoder")).eval()
    cls = build_student(replace(tiny_config("cross_encoder"), pooling="cls")).eval()
    cls.load_state_dict(mean.state_dict())  # same weights: only the read-out differs
    batch = {"input_ids": torch.tensor([[101, 7, 8, 102, 9, 102, 0]]),
             "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1, 0]]),
             "token_type_ids": torch.tensor([[0, 0, 0, 0, 1, 1, 0]])}
    with torch.no_grad():
        a, b = mean(batch)["logits"], cls(batch)["logits"]
        padded = {k: v[:, :6] for k, v in batch.items()}
        assert torch.allclose(mean(padded)["logits"], a, atol=1e-5)  # padding is ignored
    assert not torch.allclose(a, b)
