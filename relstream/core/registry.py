"""The model registry on the local filesystem: atomic publishing, listing and verifying.

Layout: `<root>/<model_name>/<version>/` holding the ONNX graph(s), `tokenizer/` and
`manifest.json`. Versions are strings of increasing integers. A version is published by
copying the staged files into a temporary directory inside `root`, fsyncing them, and
`os.rename`-ing that directory to its final name, so readers only ever see complete
versions; a published version is never changed afterwards.

`manifest.json` keys: name, version, kind ("cross_encoder" | "two_tower"), graphs
(role → file), inputs (graph role → ONNX input names), max_length, score_weights
(grade → weight; score = Σ w_g·softmax(logits)_g), files (relative path → sha256 of every
file but the manifest), metrics, config, parent_version, created_at, training_window.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from relstream.core.errors import RelstreamError
from relstream.core.schemas import MODEL_NAME_PATTERN, MODEL_VERSION_PATTERN

MANIFEST = "manifest.json"
STUDENT_FILE = "student.pt"
"""The torch checkpoint of a version's weights (`Student.checkpoint()` format), beside its
graphs: a continuous trainer can start from any version that has it. Serving ignores it."""
TMP_PREFIX = ".tmp-"
KINDS = ("cross_encoder", "two_tower")
REQUIRED_KEYS = ("kind", "graphs", "inputs", "max_length", "score_weights")
_NAME = re.compile(MODEL_NAME_PATTERN)
_VERSION = re.compile(MODEL_VERSION_PATTERN)


class RegistryError(RelstreamError):
    """A registry operation failed: bad staging dir, missing version, corrupt file."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files_of(directory: Path) -> dict[str, str]:
    """Relative path → sha256 for every file under `directory` except the manifest."""
    return {
        p.relative_to(directory).as_posix(): sha256_file(p)
        for p in sorted(directory.rglob("*"))
        if p.is_file() and p.relative_to(directory).as_posix() != MANIFEST
    }


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


def inside(directory: Path, relpath: str) -> Path:
    """`directory / relpath`, or `RegistryError` if that resolves outside `directory`.

    Manifests name files by relative path; an absolute path, a `..` or a symlink must not
    lead a reader (serving, the trainer) to a file outside the version directory.
    """
    base = Path(directory).resolve()
    target = (base / relpath).resolve()
    if not target.is_relative_to(base):
        raise RegistryError(f"path {relpath!r} leaves the version directory {directory}")
    return target


def version_dir(root: Path, name: str, version: str) -> Path:
    """`<root>/<name>/<version>` after checking both parts (`RegistryError` otherwise)."""
    return Path(root) / check_name(name) / check_version(str(version))


def load_manifest(root: Path, name: str, version: str | None = None) -> dict[str, Any]:
    """The manifest of `name` at `version` (default: the latest)."""
    if version is None:
        version = latest_version(root, name)
        if version is None:
            raise RegistryError(f"no published version of {name!r} under {root}")
    path = version_dir(root, name, version) / MANIFEST
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except FileNotFoundError as exc:
        raise RegistryError(f"{name!r} version {version} has no manifest at {path}") from exc
    except json.JSONDecodeError as exc:
        raise RegistryError(f"manifest {path} is not valid JSON: {exc}") from exc


def verify(version_dir: Path) -> None:
    """Raise `RegistryError` unless every file listed in the manifest exists with its sha256."""
    version_dir = Path(version_dir)
    path = version_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RegistryError(f"cannot read manifest {path}: {exc}") from exc
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        raise RegistryError(f"manifest {path} lists no files")
    for rel, expected in files.items():
        file = inside(version_dir, rel)
        if not file.is_file():
            raise RegistryError(f"{file} is listed in the manifest but missing")
        actual = sha256_file(file)
        if actual != expected:
            raise RegistryError(
                f"sha256 mismatch: sha256 of {rel} in {version_dir} is {actual}, "
                f"manifest says {expected}"
            )
    for role, graph in manifest.get("graphs", {}).items():
        if graph not in files:
            raise RegistryError(f"graph {role!r} ({graph}) is not among the manifest's files")


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


def _check_staging(staging: Path) -> dict[str, Any]:
    path = staging / MANIFEST
    if not path.is_file():
        raise RegistryError(f"staging dir {staging} has no {MANIFEST}")
    manifest = json.loads(path.read_text())
    missing = [k for k in REQUIRED_KEYS if k not in manifest]
    if missing:
        raise RegistryError(f"staged manifest {path} lacks {missing}")
    if manifest["kind"] not in KINDS:
        raise RegistryError(f"manifest kind {manifest['kind']!r} is not one of {KINDS}")
    for role, graph in manifest["graphs"].items():
        if not (staging / graph).is_file():
            raise RegistryError(f"graph {role!r} file {graph} is missing from {staging}")
    return manifest  # type: ignore[no-any-return]


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
        manifest = {
            **staged,
            "name": name,
            "version": version,
            "files": _files_of(tmp),
            "created_at": datetime.now(UTC).isoformat(),
            "parent_version": staged.get("parent_version") or latest,
        }
        manifest.setdefault("metrics", {})
        manifest.setdefault("config", {})
        manifest.setdefault("training_window", None)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True))
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


def manifest_sha256(root: Path, name: str, version: str) -> str:
    """sha256 of a published manifest: the fingerprint a `ModelUpdate` event carries."""
    return sha256_file(version_dir(root, name, version) / MANIFEST)
