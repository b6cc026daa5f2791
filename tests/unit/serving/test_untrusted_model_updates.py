"""Model updates come from a topic: a name or version that is not the registry's own is
refused before any path is built, and manifests cannot point outside their version."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import pytest

from relstream.core import registry as reg
from relstream.core.errors import SchemaError
from relstream.core.manifest import ModelLoadError, inside, read_manifest, sha256_file
from relstream.core.schemas import decode_event
from serving.model_holder import ModelHolder
from serving.model_pool import ModelPool


def _with_evil_twin(registry_root: Path, tmp_path: Path) -> tuple[Path, str]:
    """A copy of the registry, and a complete valid model at `<tmp>/evil/1` beside it,
    reachable as version `../../evil/1`; returns (root, that model's manifest sha256)."""
    root = tmp_path / "reg" / "root"
    shutil.copytree(registry_root, root)
    evil = tmp_path / "reg" / "evil" / "1"
    shutil.copytree(registry_root / "cross_encoder" / "2", evil)
    return root, sha256_file(evil / "manifest.json")


def test_a_traversing_version_with_a_matching_sha_is_refused_and_logged(
    registry: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    root, sha = _with_evil_twin(registry, tmp_path)
    pool = ModelPool(root)
    holder = pool.holder("cross_encoder", "1")  # pinned to v1: an event of "1" would retry
    latest = pool.holder("cross_encoder")
    assert holder.version == "1" and latest.version == "2"
    with caplog.at_level(logging.WARNING, logger="serving"):
        pool.on_model_update("cross_encoder", "../../evil/1", sha)
        pool.on_model_update("../evil", "1", sha)
    assert holder.version == "1" and latest.version == "2"
    assert [h.stats.swaps for h in (holder, latest)] == [1, 1]
    assert pool.refused_updates == 2
    refused = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 2 and "'../../evil/1'" in refused[0]
    pool.close()


def test_the_event_itself_does_not_decode(registry: Path, tmp_path: Path) -> None:
    _, sha = _with_evil_twin(registry, tmp_path)
    event = {"type": "model_update", "ts": "2026-03-01T12:00:00Z", "event_id": "e",
             "name": "cross_encoder", "version": "../../evil/1", "artifact_uri": "x",
             "sha256": sha}
    with pytest.raises(SchemaError, match="version"):
        decode_event(json.dumps(event))
    with pytest.raises(SchemaError, match="name"):
        decode_event(json.dumps({**event, "version": "3", "name": "../x"}))
    assert decode_event(json.dumps({**event, "version": "3"})).version == "3"


def test_holder_load_and_admin_paths_refuse_non_numeric_versions(
    registry: Path, tmp_path: Path
) -> None:
    root, _ = _with_evil_twin(registry, tmp_path)
    holder = ModelHolder(root, "cross_encoder")
    assert holder.refresh() and holder.version == "2"
    for bad in ("../../evil/1", "/abs/1", "2 ", "latest", "", "١"):
        assert not holder.load(bad)
        assert holder.version == "2" and "not allowed" in holder.stats.last_error
    holder.close()


def test_manifest_paths_stay_inside_the_version(registry: Path, tmp_path: Path) -> None:
    root = tmp_path / "reg"
    shutil.copytree(registry, root)
    vdir = root / "cross_encoder" / "2"
    outside = tmp_path / "outside.onnx"
    shutil.copy(vdir / "model.onnx", outside)
    manifest = json.loads((vdir / "manifest.json").read_text())
    for rel in ("../../../outside.onnx", str(outside)):
        manifest["graphs"] = {"scorer": rel}
        manifest["files"] = {rel: sha256_file(outside)}
        (vdir / "manifest.json").write_text(json.dumps(manifest))
        with pytest.raises(reg.RegistryError, match="leaves the version directory"):
            reg.verify(vdir)
        with pytest.raises(ModelLoadError, match="leaves the version directory"):
            read_manifest(vdir).path(rel)
    (vdir / "link.onnx").symlink_to(outside)  # a symlink out is the same escape
    with pytest.raises(reg.RegistryError, match="leaves"):
        inside(vdir, "link.onnx")
    holder = ModelHolder(root, "cross_encoder", "2")
    assert not holder.refresh() and holder.version is None
    assert "leaves the version directory" in holder.stats.last_error


def test_registry_functions_check_names_and_versions(tmp_path: Path) -> None:
    with pytest.raises(reg.RegistryError, match="version '../1'"):
        reg.version_dir(tmp_path, "ce", "../1")
    with pytest.raises(reg.RegistryError, match="model name '..'"):
        reg.version_dir(tmp_path, "..", "1")
    with pytest.raises(reg.RegistryError, match="model name"):
        reg.list_versions(tmp_path, "a/b")
    assert reg.version_dir(tmp_path, "ce", "12") == tmp_path / "ce" / "12"
