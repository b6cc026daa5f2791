"""Read and verify a registry version directory (`<root>/<name>/<version>/manifest.json`).

Serving parses the manifest into what it needs; checking the files is the registry's job
(`relstream.core.registry.verify`, which imports only the standard library, so the
scoring path never pulls in torch).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from relstream.core import registry
from relstream.core.schemas import DEFAULT_SCORE_WEIGHTS

MANIFEST = "manifest.json"


class ModelLoadError(registry.RegistryError):
    """A model version could not be read, verified or loaded; the old model stays."""


@dataclass(frozen=True)
class ModelManifest:
    """What serving needs from a manifest; unknown fields are kept in `raw`."""

    name: str
    version: str
    kind: Literal["cross_encoder", "two_tower"]
    graphs: dict[str, str]
    max_length: int
    score_weights: dict[str, float]
    files: dict[str, str]
    directory: Path
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    def path(self, relpath: str) -> Path:
        """`directory / relpath`, refused (`ModelLoadError`) if it resolves outside it."""
        try:
            return registry.inside(self.directory, relpath)
        except registry.RegistryError as exc:
            raise ModelLoadError(f"{self.directory}: {exc}") from exc


def read_manifest(version_dir: Path) -> ModelManifest:
    """Parse `<version_dir>/manifest.json`, or `ModelLoadError` naming what is wrong."""
    path = version_dir / MANIFEST
    try:
        raw = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ModelLoadError(f"no {MANIFEST} in {version_dir}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"cannot read {path}: {exc}") from exc
    kind = raw.get("kind")
    if kind not in ("cross_encoder", "two_tower"):
        raise ModelLoadError(f"{path}: kind {kind!r} is not 'cross_encoder' or 'two_tower'")
    graphs = raw.get("graphs") or {}
    needed = ("scorer",) if kind == "cross_encoder" else ("query_tower", "item_tower", "head")
    missing = [g for g in needed if g not in graphs]
    if missing:
        raise ModelLoadError(f"{path}: a {kind} needs graphs {needed}, missing {missing}")
    weights = raw.get("score_weights") or DEFAULT_SCORE_WEIGHTS
    return ModelManifest(
        name=str(raw.get("name") or version_dir.parent.name),
        version=str(raw.get("version") or version_dir.name),
        kind=kind,
        graphs={k: str(v) for k, v in graphs.items()},
        max_length=int(raw.get("max_length") or 128),
        score_weights={g: float(weights.get(g, 0.0)) for g in ("E", "S", "C", "I")},
        files={str(k): str(v) for k, v in (raw.get("files") or {}).items()},
        directory=version_dir,
        raw=raw,
    )


def verify_files(manifest: ModelManifest) -> None:
    """Every listed file exists with its sha256, and every graph is listed; else raise."""
    try:
        registry.verify(manifest.directory)
    except registry.RegistryError as exc:
        raise ModelLoadError(f"{manifest.directory}: {exc} (corrupt or half-written copy)"
                             ) from exc


def manifest_sha256(directory: Path) -> str:
    """The fingerprint a `ModelUpdate` event carries: sha256 of the manifest file."""
    return registry.sha256_file(directory / MANIFEST)
