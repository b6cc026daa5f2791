"""The model registry: atomic publish, version order, verification, partial clean-up."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from relstream.core import registry
from relstream.core.manifest import sha256_file
from relstream.core.registry import RegistryError


def _stage(path: Path, payload: bytes = b"graph") -> Path:
    path.mkdir(parents=True)
    (path / "model.onnx").write_bytes(payload)
    (path / "tokenizer").mkdir()
    (path / "tokenizer" / "tokenizer.json").write_text("{}")
    manifest = {"kind": "cross_encoder", "graphs": {"scorer": "model.onnx"},
                "inputs": {"scorer": ["input_ids", "attention_mask", "token_type_ids"]},
                "max_length": 32, "score_weights": {"E": 1.0, "S": 0.1, "C": 0.01, "I": 0.0},
                "metrics": {"auc": 0.5}}
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_publish_numbers_versions_and_fills_the_manifest(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    assert registry.latest_version(root, "ce") is None
    assert registry.publish(root, _stage(tmp_path / "s1"), "ce") == "1"
    assert registry.publish(root, _stage(tmp_path / "s2", b"other"), "ce") == "2"
    assert registry.list_versions(root, "ce") == ["1", "2"]
    assert registry.latest_version(root, "ce") == "2"
    manifest = registry.load_manifest(root, "ce", "2")
    assert manifest.name == "ce" and manifest.version == "2"
    assert manifest.parent_version == "1"
    assert set(manifest.files) == {"model.onnx", "tokenizer/tokenizer.json"}
    assert manifest.files["model.onnx"] == sha256_file(tmp_path / "s2" / "model.onnx")
    assert registry.load_manifest(root, "ce").version == "2"  # default: latest
    registry.verify(registry.version_dir(root, "ce", "2"))


def test_versions_sort_numerically(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    for n in range(11):
        registry.publish(root, _stage(tmp_path / f"s{n}"), "ce")
    assert registry.latest_version(root, "ce") == "11"
    assert registry.list_versions(root, "ce")[-3:] == ["9", "10", "11"]


def test_verify_catches_a_changed_or_missing_file(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    version = registry.publish(root, _stage(tmp_path / "s"), "ce")
    vdir = registry.version_dir(root, "ce", version)
    (vdir / "model.onnx").write_bytes(b"tampered")
    with pytest.raises(RegistryError, match="sha256 mismatch"):
        registry.verify(vdir)
    (vdir / "model.onnx").unlink()
    with pytest.raises(RegistryError, match="missing"):
        registry.verify(vdir)


def test_publish_rejects_an_incomplete_staging_dir(tmp_path: Path) -> None:
    stage = _stage(tmp_path / "s")
    (stage / "model.onnx").unlink()
    with pytest.raises(RegistryError, match="missing"):
        registry.publish(tmp_path / "reg", stage, "ce")
    assert registry.list_versions(tmp_path / "reg", "ce") == []


def test_clean_partial_removes_only_temp_dirs(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    registry.publish(root, _stage(tmp_path / "s"), "ce")
    leftover = root / f"{registry.TMP_PREFIX}ce-dead"
    leftover.mkdir()
    assert registry.clean_partial(root) == [leftover]
    assert not leftover.exists() and registry.list_versions(root, "ce") == ["1"]


def test_concurrent_publishers_get_distinct_versions(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    stages = [_stage(tmp_path / f"s{i}", bytes([i])) for i in range(6)]
    got: list[str] = []
    threads = [threading.Thread(target=lambda s=s: got.append(registry.publish(root, s, "ce")))
               for s in stages]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(got, key=int) == [str(i) for i in range(1, 7)]
    for v in got:
        registry.verify(registry.version_dir(root, "ce", v))


def test_missing_manifest_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no published version"):
        registry.load_manifest(tmp_path, "nothing")
