"""The model registry on the local filesystem: atomic publishing, listing and verifying.

Layout: `<root>/<model_name>/<version>/` holding the ONNX graph(s), `tokenizer/` and
`manifest.json` (`relstream.core.manifest.ModelManifest`: its keys, reading, writing and
file checks). Versions are strings of increasing integers. A version is published by
copying the staged files into a temporary directory inside `root`, fsyncing them, and
`os.rename`-ing that directory to its final name, so readers only ever see complete
versions; a published version is never changed afterwards.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from relstream.core.manifest import (
    MANIFEST,
    ModelManifest,
    RegistryError,
    file_hashes,
)
from relstream.core.schemas import MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN

STUDENT_FILE = "student.pt"
"""The torch checkpoint of a version's weights (`Student.checkpoint()` format), beside its
graphs: a continuous trainer can start from any version that has it. Serving ignores it."""
TMP_PREFIX = ".tmp-"
_NAME = re.compile(MODEL_NAME_PATTERN)
_VERSION = re.compile(MODEL_VERSION_PATTERN)


def list_versions(root: Path, name: str) -> list[str]:
    """Published versions of `name`, oldest first (numeric order)."""
    model_dir = Path(root) / check_name(name)
    if not model_dir.is_dir():
        return []
    versions = [p.name for p in model_dir.iterdir() if p.is_dir() and _VERSION.fullmatch(p.name)]
    return sorted(versions, key=int)


def latest_version(root: Path, name: str) -> str | None:
    """The newest published version of `name`, or None if there is none."""
    versions = list_versions(root, name)
    return versions[-1] if versions else None


def check_name(name: str) -> str:
    """`name`, or `RegistryError` unless it is one safe path segment (`MODEL_NAME_PATTERN`)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise RegistryError(f"model name {name!r} is not allowed: expected letters, digits, "
                            "'_', '.' or '-' (at most 64, not starting with '.' or '-')")
    return name


def check_version(version: str) -> str:
    """`version`, or `RegistryError` unless it is a decimal integer like the registry's."""
    if not isinstance(version, str) or not _VERSION.fullmatch(version):
        raise RegistryError(f"model version {version!r} is not allowed: expected a decimal "
                            "integer such as '7'")
    return version


def version_dir(root: Path, name: str, version: str) -> Path:
    """`<root>/<name>/<version>` after checking both parts (`RegistryError` otherwise)."""
    return Path(root) / check_name(name) / check_version(str(version))


def load_manifest(root: Path, name: str, version: str | None = None) -> ModelManifest:
    """The manifest of `name` at `version` (default: the latest)."""
    if version is None:
        version = latest_version(root, name)
        if version is None:
            raise RegistryError(f"no published version of {name!r} under {root}")
    return ModelManifest.read(version_dir(root, name, version))


def verify(version_dir: Path) -> None:
    """Raise `RegistryError` unless the manifest is valid and every file it lists exists
    with its sha256 (`ModelManifest.verify_files`)."""
    ModelManifest.read(Path(version_dir)).verify_files()


def fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(directory: Path) -> None:
    """Files and directories reach the disk before the rename makes them visible."""
    for p in sorted(directory.rglob("*"), reverse=True):
        fsync_path(p)
    fsync_path(directory)


def _check_staging(staging: Path) -> ModelManifest:
    if not (staging / MANIFEST).is_file():
        raise RegistryError(f"staging dir {staging} has no {MANIFEST}")
    try:
        manifest = ModelManifest.read(staging)
    except RegistryError as exc:
        raise RegistryError(f"staged manifest is invalid: {exc}") from exc
    for role, graph in manifest.graphs.items():
        if not (staging / graph).is_file():
            raise RegistryError(f"graph {role!r} file {graph} is missing from {staging}")
    return manifest


def publish(root: Path, staging_dir: Path, name: str, *, max_attempts: int = 20) -> str:
    """Publish the staged model as the next version of `name` and return that version.

    `staging_dir` holds the graphs, `tokenizer/` and a `manifest.json` with at least
    kind, graphs, inputs, max_length and score_weights. Name, version, files (sha256),
    created_at and, unless the staged manifest names one, parent_version (the previous
    latest) are filled in here.
    Concurrent publishers are safe: a lost race on a version number retries the next one.
    """
    root, staging = Path(root), Path(staging_dir)
    check_name(name)
    staged = _check_staging(staging)
    (root / name).mkdir(parents=True, exist_ok=True)
    for _ in range(max_attempts):
        latest = latest_version(root, name)
        version = str(int(latest) + 1 if latest else 1)
        tmp = root / f"{TMP_PREFIX}{name}-{uuid.uuid4().hex}"
        shutil.copytree(staging, tmp)
        staged.replace(
            name=name, version=version, files=file_hashes(tmp),
            created_at=datetime.now(UTC).isoformat(),
            parent_version=staged.parent_version or latest,
            # Written even when the staged manifest left them out.
            metrics=staged.metrics, config=staged.config,
            training_window=staged.training_window,
        ).write(tmp)
        _fsync_tree(tmp)
        try:
            os.rename(tmp, version_dir(root, name, version))
        except OSError:
            # Another publisher took this version number first: try the next one.
            shutil.rmtree(tmp, ignore_errors=True)
            continue
        fsync_path(root / name)
        return version
    raise RegistryError(f"could not publish {name!r} after {max_attempts} attempts")


def clean_partial(root: Path) -> list[Path]:
    """Remove temp dirs that a crashed publish left in `root`; return what was removed."""
    root = Path(root)
    if not root.is_dir():
        return []
    removed = [p for p in root.iterdir() if p.is_dir() and p.name.startswith(TMP_PREFIX)]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
    return removed
