"""One manifest type for exporter, registry and serving: what it accepts, refuses, writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from relstream.core import registry
from relstream.core.manifest import (
    MANIFEST,
    ModelLoadError,
    ModelManifest,
    RegistryError,
    manifest_sha256,
    read_manifest,
    sha256_file,
)
from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS

STAGED: dict[str, Any] = {
    "kind": "cross_encoder", "graphs": {"scorer": "model.onnx"},
    "inputs": {"scorer": ["input_ids", "attention_mask"]}, "max_length": 16,
    "score_weights": {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0},
}


def _stage(path: Path, manifest: dict[str, Any]) -> Path:
    path.mkdir(parents=True)
    (path / "model.onnx").write_bytes(b"graph")
    (path / MANIFEST).write_text(json.dumps(manifest))
    return path


def test_to_dict_writes_back_what_was_read_and_nothing_else() -> None:
    data = {**STAGED, "embedding_dim": None, "parent_version": None, "future_key": [1, 2]}
    manifest = ModelManifest.from_dict(data)
    assert manifest.to_dict() == data  # explicit nulls kept, unknown keys kept, no defaults
    assert manifest.model_extra == {"future_key": [1, 2]}
    assert manifest.metrics == {} and manifest.quantized_graphs is None  # defaults, unwritten
    changed = manifest.replace(metrics={"auc": 0.5})
    assert changed.to_dict() == {**data, "metrics": {"auc": 0.5}}
    assert manifest.metrics == {}  # frozen: replace made a copy


@pytest.mark.parametrize("change, why", [
    ({"kind": "bert"}, "kind: Input should be 'cross_encoder' or 'two_tower'"),
    ({"kind": "two_tower"}, "a two_tower needs graphs"),
    ({"max_length": None}, "max_length"),
    ({"graphs": ["model.onnx"]}, "graphs: Input should be a valid dictionary"),
    ({"int8_gate": "passed"}, "int8_gate"),
])
def test_an_invalid_manifest_names_its_problem(change: dict[str, Any], why: str) -> None:
    with pytest.raises(RegistryError, match=why):
        ModelManifest.from_dict({**STAGED, **change})


def test_a_required_key_missing_is_refused_at_publish(tmp_path: Path) -> None:
    staged = {k: v for k, v in STAGED.items() if k != "inputs"}
    with pytest.raises(RegistryError, match="staged manifest is invalid: .*inputs: Field required"):
        registry.publish(tmp_path / "reg", _stage(tmp_path / "s", staged), "ce")


def test_publish_adds_its_keys_to_the_staged_ones(tmp_path: Path) -> None:
    staged = {**STAGED, "future_key": {"a": 1}}
    root = tmp_path / "reg"
    version = registry.publish(root, _stage(tmp_path / "s", staged), "ce")
    vdir = registry.version_dir(root, "ce", version)
    written = json.loads((vdir / MANIFEST).read_text())
    assert set(written) == set(staged) | {"name", "version", "files", "created_at",
                                          "parent_version", "metrics", "config",
                                          "training_window"}
    assert written["future_key"] == {"a": 1} and written["parent_version"] is None
    manifest = registry.load_manifest(root, "ce", version)
    assert manifest.directory == vdir and manifest.files == {"model.onnx": sha256_file(
        vdir / "model.onnx")}
    assert manifest_sha256(vdir) == sha256_file(vdir / MANIFEST)
    manifest.verify_files()


def test_read_takes_name_and_version_from_the_directory_not_the_directory_from_the_file(
    tmp_path: Path,
) -> None:
    vdir = _stage(tmp_path / "ce" / "3", {**STAGED, "_directory": "/", "directory": "/"})
    manifest = ModelManifest.read(vdir)
    assert (manifest.name, manifest.version) == ("ce", "3")
    assert manifest.directory == vdir
    with pytest.raises(ModelLoadError, match="leaves the version directory"):
        manifest.path("../../outside.onnx")


def test_serving_reads_fail_as_model_load_errors(tmp_path: Path) -> None:
    vdir = _stage(tmp_path / "ce" / "1", STAGED)
    (vdir / MANIFEST).write_text("{not json")
    with pytest.raises(ModelLoadError, match="cannot read"):
        read_manifest(vdir)
    (vdir / MANIFEST).write_text(json.dumps({**STAGED, "kind": "bert"}))
    with pytest.raises(ModelLoadError, match="kind"):
        read_manifest(vdir)
    (vdir / MANIFEST).unlink()
    with pytest.raises(ModelLoadError, match="no manifest.json"):
        read_manifest(vdir)


def test_grade_weights_are_what_serving_scores_with() -> None:
    assert ModelManifest.from_dict({**STAGED, "score_weights": {}}).grade_weights() == \
        DEFAULT_SCORE_WEIGHTS
    assert ModelManifest.from_dict({**STAGED, "score_weights": {"E": 1}}).grade_weights() == \
        {"E": 1.0, "S": 0.0, "C": 0.0, "I": 0.0}
